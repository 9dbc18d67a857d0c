/**
 * Fills the `feedback` section of the Config (webhooks, suppression, event log,
 * classification overrides) from the validated file layer.
 *
 * Applies defaults (defaults.ts): suppression on for 30 days, the event log on at
 * `<dataDir>/events.log` (a relative `path` resolves against the config file's
 * directory), 50MB per file, 5 old files kept. Checks the rules spanning several
 * keys: an event listed twice for one webhook, a classification rule without any
 * matcher. Problems are appended to `issues`; nothing is thrown, no files are read.
 */
import { join, resolve } from 'node:path';
import {
  DEFAULT_EVENT_LOG,
  DEFAULT_RETENTION_MS,
  DEFAULT_SUPPRESSION,
  DEFAULT_WEBHOOK_HOLD_MS,
} from './defaults.ts';
import type { ConfigIssue } from './errors.ts';
import type { FileLayer } from './schema.ts';
import type { ClassificationRule, FeedbackConfig, WebhookConfig } from './types.ts';

type FileFeedback = NonNullable<FileLayer['feedback']>;

export interface FeedbackContext {
  /** Directory relative paths in the file resolve against. */
  readonly fileBase: string;
  /** The final data directory (after environment and flags). */
  readonly dataDir: string;
  /** The file's path, for messages ('default' without a file). */
  readonly origin: string;
}

function buildWebhooks(given: FileFeedback['webhooks'], ctx: FeedbackContext, issues: ConfigIssue[]) {
  return (given ?? []).map((w, i): WebhookConfig => {
    if (w.events !== undefined) {
      const twice = w.events.find((e, j) => w.events?.indexOf(e) !== j);
      if (twice !== undefined) {
        issues.push({
          key: `feedback.webhooks[${i}].events`,
          problem: `"${twice}" is listed twice`,
          origin: ctx.origin,
        });
      }
    }
    return { url: w.url, secret: w.secret, ...(w.events === undefined ? {} : { events: w.events }) };
  });
}

function buildClassification(
  given: FileFeedback['classification'],
  ctx: FeedbackContext,
  issues: ConfigIssue[],
) {
  return (given ?? []).map((c, i): ClassificationRule => {
    if (
      c.text === undefined &&
      c.enhanced === undefined &&
      c.code === undefined &&
      c.errorCode === undefined
    ) {
      issues.push({
        key: `feedback.classification[${i}]`,
        problem: 'needs at least one of text, enhanced, code or errorCode to match on',
        origin: ctx.origin,
      });
    }
    return {
      ...(c.text === undefined ? {} : { text: c.text }),
      ...(c.enhanced === undefined ? {} : { enhanced: c.enhanced }),
      ...(c.code === undefined ? {} : { code: c.code }),
      ...(c.errorCode === undefined ? {} : { errorCode: c.errorCode }),
      severity: c.severity,
      category: c.category,
    };
  });
}

export function buildFeedback(
  file: FileLayer['feedback'],
  ctx: FeedbackContext,
  issues: ConfigIssue[],
): FeedbackConfig {
  const f = file ?? {};
  const log = f.eventLog ?? {};
  return {
    webhooks: buildWebhooks(f.webhooks, ctx, issues),
    retentionMs: f.retention ?? DEFAULT_RETENTION_MS,
    webhookHoldMs: f.webhookHold ?? DEFAULT_WEBHOOK_HOLD_MS,
    suppression: {
      enabled: f.suppression?.enabled ?? DEFAULT_SUPPRESSION.enabled,
      ttlMs: f.suppression?.ttl ?? DEFAULT_SUPPRESSION.ttlMs,
    },
    eventLog: {
      enabled: log.enabled ?? DEFAULT_EVENT_LOG.enabled,
      path:
        log.path === undefined ? join(ctx.dataDir, DEFAULT_EVENT_LOG.file) : resolve(ctx.fileBase, log.path),
      maxBytes: log.maxBytes ?? DEFAULT_EVENT_LOG.maxBytes,
      keep: log.keep ?? DEFAULT_EVENT_LOG.keep,
    },
    classification: buildClassification(f.classification, ctx, issues),
  };
}
