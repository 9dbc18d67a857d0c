/**
 * The `feedback` section of the config file: webhooks, the suppression list, the
 * event log and classification overrides.
 *
 * Shapes for schema.ts plus the single-value parsers only this section uses
 * (webhook URLs and secrets, lifecycle event names, reply-code prefixes, regular
 * expressions). Defaults and rules spanning several keys are applied in
 * build-feedback.ts. Parsers throw `FieldProblem`; a webhook secret is never echoed.
 * Operator input only (regular expressions are compiled but never run here).
 */
import * as z from 'zod';
import type { LifecycleEventType } from '../contracts/events.ts';
import { describeValue, FieldProblem } from './errors.ts';
import { parseBoolean, parseCount, parseOneOf, parsePath, parseSecret } from './fields.ts';
import { DAY, duration, field, list, opt } from './schema-kit.ts';
import { parseSize } from './units.ts';

/** Every lifecycle event type; the Record type makes the compiler keep it complete. */
const EVENT_TYPE_SET: Readonly<Record<LifecycleEventType, true>> = {
  received: true,
  delivered: true,
  deferred: true,
  bounced: true,
  expired: true,
  suppressed: true,
  cancelled: true,
  'dsn-sent': true,
  'suppression-added': true,
};
export const EVENT_TYPES = Object.keys(EVENT_TYPE_SET) as LifecycleEventType[];

/** An http: or https: URL without a fragment, at most 2048 characters. */
export function parseWebhookUrl(value: unknown): string {
  const expected = 'expected an http:// or https:// URL';
  if (typeof value !== 'string') throw new FieldProblem(`${expected}, got ${describeValue(value)}`);
  let url: URL;
  try {
    url = new URL(value.trim());
  } catch {
    throw new FieldProblem(`${expected}, got ${describeValue(value)}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new FieldProblem(`${expected}, got a ${url.protocol} URL`);
  }
  if (url.hash !== '') throw new FieldProblem(`${expected} without a #fragment`);
  if (url.href.length > 2048) throw new FieldProblem(`${expected} of at most 2048 characters`);
  return url.href;
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/**
 * A webhook signing secret: `whsec_` and base64 of at least 16 bytes (the Standard
 * Webhooks form), or any other string of at least 16 characters.
 */
export function parseWebhookSecret(value: unknown): string {
  const secret = parseSecret(value, 16);
  if (secret.startsWith('whsec_')) {
    const key = secret.slice('whsec_'.length);
    if (!BASE64.test(key) || Buffer.from(key, 'base64').length < 16) {
      throw new FieldProblem('a whsec_ secret must be followed by base64 of at least 16 bytes');
    }
  }
  return secret;
}

export function parseEventType(value: unknown): LifecycleEventType {
  return parseOneOf(EVENT_TYPES)(value);
}

/** A regular expression source that compiles with the `i` flag, at most 1000 characters. */
export function parseRegExpSource(value: unknown): string {
  if (typeof value !== 'string' || value === '' || value.length > 1000) {
    throw new FieldProblem(`expected a regular expression (1-1000 characters), got ${describeValue(value)}`);
  }
  try {
    new RegExp(value, 'i');
  } catch (error) {
    throw new FieldProblem(`is not a valid regular expression: ${(error as Error).message}`);
  }
  return value;
}

/**
 * Prefix of an enhanced status code, as feedback/classify.ts matches it: `5`, `5.7`,
 * `5.7.1`, with `X` (or `*`) for any value of a component (`X.1.1`); or `none` for a
 * reply without one.
 */
export function parseEnhancedPrefix(value: unknown): string {
  if (typeof value === 'string') {
    const text = value.trim();
    if (text.toLowerCase() === 'none') return 'none';
    if (/^(?:[245xX*])(?:\.(?:\d{1,3}|[xX*])){0,2}$/.test(text)) return text.replace(/x/g, 'X');
  }
  throw new FieldProblem(
    `expected an enhanced status code or its prefix (5.7.1, 4.7, X.1.1) or none, got ${describeValue(value)}`,
  );
}

/** Prefix of a reply code: `5`, `55` or `550` (YAML may read it as a number). */
export function parseReplyCodePrefix(value: unknown): string {
  const text = typeof value === 'number' ? String(value) : value;
  if (typeof text === 'string' && /^[2-5]\d{0,2}$/.test(text.trim())) return text.trim();
  throw new FieldProblem(`expected a reply code or its prefix (550, 55, 4), got ${describeValue(value)}`);
}

/** A local error code such as ECONNREFUSED, or a prefix ending in `*` (DNS_*); upper-cased. */
export function parseErrorCode(value: unknown): string {
  if (typeof value === 'string' && /^[A-Z][A-Z0-9_]{0,63}\*?$/i.test(value.trim())) {
    return value.trim().toUpperCase();
  }
  throw new FieldProblem(
    `expected an error code like ECONNREFUSED or a prefix like DNS_*, got ${describeValue(value)}`,
  );
}

/** A category key such as `bad-mailbox`: lower-case letters, digits and hyphens. */
export function parseCategory(value: unknown): string {
  if (typeof value === 'string' && /^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$/.test(value)) return value;
  throw new FieldProblem(
    `expected a category like bad-mailbox (lower-case letters, digits, hyphens), got ${describeValue(value)}`,
  );
}

export const SEVERITIES = ['hard', 'soft'] as const;

export const webhookShape = {
  url: field(parseWebhookUrl),
  secret: field(parseWebhookSecret),
  events: z.array(field(parseEventType)).min(1).max(EVENT_TYPES.length).optional(),
};

export const suppressionShape = {
  enabled: opt(parseBoolean),
  ttl: duration(10 * 365 * DAY, 0),
};

export const eventLogShape = {
  enabled: opt(parseBoolean),
  path: opt(parsePath),
  maxBytes: opt((v) => parseSize(v, { min: 1024 })),
  keep: opt((v) => parseCount(v, 0, 1000)),
};

export const classificationShape = {
  text: opt(parseRegExpSource),
  enhanced: opt(parseEnhancedPrefix),
  code: opt(parseReplyCodePrefix),
  errorCode: opt(parseErrorCode),
  severity: field(parseOneOf(SEVERITIES)),
  category: field(parseCategory),
};

export const feedbackShape = {
  webhooks: list(z.strictObject(webhookShape), 100),
  retention: duration(10 * 365 * DAY, 0),
  webhookHold: duration(10 * 365 * DAY, 0),
  suppression: z.strictObject(suppressionShape).optional(),
  eventLog: z.strictObject(eventLogShape).optional(),
  classification: list(z.strictObject(classificationShape), 1000),
};

/** Known keys by object path, for typo suggestions (see schema.ts). */
export const FEEDBACK_KEYS: Readonly<Record<string, readonly string[]>> = {
  feedback: Object.keys(feedbackShape),
  'feedback.webhooks[]': Object.keys(webhookShape),
  'feedback.suppression': Object.keys(suppressionShape),
  'feedback.eventLog': Object.keys(eventLogShape),
  'feedback.classification[]': Object.keys(classificationShape),
};
