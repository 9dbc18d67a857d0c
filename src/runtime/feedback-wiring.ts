/**
 * Turns the queue's delivery reports (failures, delays, successes) into RFC 3464
 * messages, and builds the DKIM signer from the configured key files.
 *
 * The report re-enters through ingress/accept.ts (the one allowed back-edge); a
 * `dsn-sent` event is stored (and so published by the spool) once it is queued. A
 * recipient's Diagnostic-Code is the remote server's own reply; verdicts we reached
 * ourselves (null MX, NXDOMAIN, expiry after refused connections) are explained in
 * words instead.
 */
import { readFileSync } from 'node:fs';
import type { ClassificationRule, Config } from '../config/types.ts';
import type { DsnSentEvent } from '../contracts/events.ts';
import type { Spool } from '../contracts/spool.ts';
import { createDkimSigner, type DkimSigner } from '../delivery/dkim.ts';
import type { DeliveryJob } from '../delivery/job.ts';
import { createBouncer, notifyWants } from '../feedback/bounces.ts';
import { classify } from '../feedback/classify.ts';
import type { Acceptor } from '../ingress/accept.ts';
import type { DeliveryReport } from '../queue/reports.ts';

export interface FailureReporterDeps {
  readonly acceptor: Acceptor;
  readonly spool: Spool;
  readonly hostname: string;
  /** Classification overrides from the config. */
  readonly rules?: readonly ClassificationRule[];
  /** Resolves true when the client already got the refusal in its SMTP reply (sync delivery). */
  readonly refusalDelivered?: (messageId: string) => Promise<boolean> | undefined;
  readonly log: (
    level: 'debug' | 'info' | 'warn' | 'error',
    message: string,
    fields?: Record<string, unknown>,
  ) => void;
}

export function createReporter(deps: FailureReporterDeps): (report: DeliveryReport) => Promise<void> {
  const bouncer = createBouncer({
    acceptor: deps.acceptor,
    spool: deps.spool,
    hostname: deps.hostname,
    log: deps.log,
  });
  return async (report) => {
    try {
      const failures = report.recipients.every((r) => r.action === 'failed');
      const settled = failures ? deps.refusalDelivered?.(report.message.id) : undefined;
      if (settled && (await settled)) {
        deps.log('info', 'refusal already given in the SMTP reply; no report', {
          messageId: report.message.id,
        });
        return;
      }
      const recipients = report.recipients.map((r) => {
        const remote = r.attempt?.reply !== undefined && r.reply !== undefined;
        const fallback =
          r.action === 'relayed' ? '2.0.0' : r.reply && r.reply.code >= 500 ? '5.0.0' : '4.0.0';
        const status = r.reply?.enhanced ?? fallback;
        const words = r.reply?.text ?? 'no reply recorded';
        const verdict =
          r.action === 'relayed'
            ? undefined
            : classify(
                {
                  ...(r.reply ? { reply: r.reply } : {}),
                  ...(r.attempt?.errorCode ? { errorCode: r.attempt.errorCode } : {}),
                },
                deps.rules,
              );
        const advice = verdict ? `${verdict.explanation.title}. ${verdict.explanation.action}` : undefined;
        const lead = remote
          ? undefined
          : r.expired
            ? `Gave up after the queue lifetime; last problem: ${words}`
            : words;
        return {
          index: r.index,
          action: r.action,
          status,
          ...(r.attempt?.mxHost ? { remoteMta: r.attempt.mxHost } : {}),
          ...(remote ? { reply: r.reply } : {}),
          ...(r.attempt ? { lastAttemptAt: r.attempt.at } : {}),
          ...(r.action === 'delayed' && report.willRetryUntil
            ? { willRetryUntil: report.willRetryUntil }
            : {}),
          explanation: [lead === undefined ? undefined : sentence(lead), advice]
            .filter((part) => part !== undefined)
            .join(' '),
        };
      });
      const id = await bouncer.report({
        message: report.message,
        recipients,
        ...(report.original ? { original: report.original } : {}),
      });
      if (!id) return;
      const byIndex = new Map(report.message.recipients.map((r) => [r.index, r]));
      const covered = report.recipients.filter((r) => notifyWants(byIndex.get(r.index)?.notify, r.action));
      const event: DsnSentEvent = {
        type: 'dsn-sent',
        seq: 0,
        at: Date.now(),
        messageId: report.message.id,
        dsnMessageId: id,
        action: failures ? 'failed' : (report.recipients[0]?.action ?? 'failed'),
        recipients: covered.map((r) => r.address),
      };
      await deps.spool.update([], [event]);
    } catch (error) {
      deps.log('error', 'could not queue a delivery report', {
        messageId: report.message.id,
        error: String(error),
      });
    }
  };
}

/** A signer for the configured DKIM keys, or undefined when none are configured. */
export function loadDkimSigner(
  config: Config,
  log: FailureReporterDeps['log'],
): ((body: Uint8Array, job: DeliveryJob) => Promise<Uint8Array>) | undefined {
  const keys = config.delivery.dkim ?? [];
  if (keys.length === 0) return undefined;
  const signer: DkimSigner = createDkimSigner(
    keys.map((k) => ({
      domain: k.domain,
      selector: k.selector,
      privateKeyPem: readFileSync(k.privateKeyFile, 'utf8'),
    })),
    {
      onError: (error, domain) =>
        log('warn', 'DKIM signing failed; sending unsigned', { domain, error: String(error) }),
    },
  );
  return (body, job) => signer.sign(body, job.mailFrom.slice(job.mailFrom.lastIndexOf('@') + 1));
}

/** `text` ending as a sentence, so the advice after it reads as the next one. */
function sentence(text: string): string {
  return /[.!?]$/.test(text) ? text : `${text}.`;
}
