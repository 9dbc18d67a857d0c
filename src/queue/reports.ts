/**
 * Which delivery status notifications a recorded attempt calls for. Pure.
 *
 * Failures (bounced, expired) are reported once per message, when its last
 * pending recipient is settled, in one report covering every failed recipient
 * (RFC 3464 allows one per message; senders prefer one). Delays are reported on a
 * recipient's first deferral when its NOTIFY asked for DELAY, and, when the sender
 * gave no NOTIFY and `delayWarningAfterMs` is set, once on the first deferral at or
 * past that age (the previous attempt was younger); successes when NOTIFY
 * asked for SUCCESS and the next hop could not carry the request on (RFC 3461
 * 6.2.6: a DSN-capable next hop reports itself, so we stay silent).
 */
import type { StoredMessage, StoredRecipient } from '../contracts/spool.ts';
import type { Attempt, SmtpReply } from '../contracts/status.ts';
import type { DeliveryJob, RecipientOutcome } from '../delivery/job.ts';

export type ReportAction = 'failed' | 'delayed' | 'relayed';

export interface ReportRecipient {
  readonly index: number;
  readonly address: string;
  readonly action: ReportAction;
  readonly reply?: SmtpReply;
  /** The last attempt (absent for verdicts reached without a connection). */
  readonly attempt?: Attempt;
  readonly expired: boolean;
}

export interface DeliveryReport {
  readonly message: StoredMessage;
  /** The message bytes when read before the spool released them. */
  readonly original?: Uint8Array;
  readonly recipients: readonly ReportRecipient[];
  /** For delay reports: when we give up. */
  readonly willRetryUntil?: number;
}

/** What #record decided per outcome, in the scheduler's words. */
export interface Settled {
  readonly outcome: RecipientOutcome;
  readonly status: 'delivered' | 'bounced' | 'expired' | 'deferred';
  /** Attempts made before this one. */
  readonly attemptsBefore: number;
}

const wants = (notify: StoredRecipient['notify'], kind: 'SUCCESS' | 'DELAY'): boolean =>
  Array.isArray(notify) && notify.includes(kind);

/**
 * Delay and success notices due right now (not failures: see failuresDue).
 * `delayWarningAfterMs` (0: never) is the message age at which a recipient without
 * a NOTIFY gets one delay warning; `now` is when the attempts were recorded.
 */
export function noticesDue(
  job: DeliveryJob,
  settled: readonly Settled[],
  delayWarningAfterMs = 0,
  now = Date.now(),
): ReportRecipient[] {
  const out: ReportRecipient[] = [];
  const warnAt = job.receivedAt + delayWarningAfterMs;
  for (const s of settled) {
    const r = job.recipients.find((x) => x.index === s.outcome.index);
    if (!r) continue;
    const asked = s.attemptsBefore === 0 && wants(r.notify, 'DELAY');
    const warning =
      delayWarningAfterMs > 0 &&
      r.notify === undefined &&
      now >= warnAt &&
      (r.previousAttemptAt ?? job.receivedAt) < warnAt;
    if (s.status === 'deferred' && (asked || warning)) {
      out.push({
        index: r.index,
        address: r.address,
        action: 'delayed',
        reply: s.outcome.reply,
        ...(s.outcome.attempt ? { attempt: s.outcome.attempt } : {}),
        expired: false,
      });
    }
    if (s.status === 'delivered' && wants(r.notify, 'SUCCESS') && s.outcome.nextHopDsn !== true) {
      out.push({
        index: r.index,
        address: r.address,
        action: 'relayed',
        reply: s.outcome.reply,
        ...(s.outcome.attempt ? { attempt: s.outcome.attempt } : {}),
        expired: false,
      });
    }
  }
  return out;
}

/**
 * Failed recipients to report now. `others` are the message's recipients outside
 * this job as stored (undefined when the job held them all), `lastAttempts` their
 * stored last attempts by index (the MX that answered, when, the socket error).
 * Returns undefined while some other recipient is still pending.
 */
export function failuresDue(
  settled: readonly Settled[],
  others: readonly StoredRecipient[] | undefined,
  lastAttempts: ReadonlyMap<number, Attempt> = new Map(),
): ReportRecipient[] | undefined {
  if (settled.some((s) => s.status === 'deferred')) return undefined;
  if (others?.some((r) => r.status === 'queued' || r.status === 'deferred')) return undefined;
  const out: ReportRecipient[] = [];
  for (const r of others ?? []) {
    if (r.status !== 'bounced' && r.status !== 'expired') continue;
    out.push({
      index: r.index,
      address: r.address,
      action: 'failed',
      ...(r.lastReply ? { reply: r.lastReply } : {}),
      ...(lastAttempts.has(r.index) ? { attempt: lastAttempts.get(r.index)! } : {}),
      expired: r.status === 'expired',
    });
  }
  for (const s of settled) {
    if (s.status !== 'bounced' && s.status !== 'expired') continue;
    out.push({
      index: s.outcome.index,
      address: s.outcome.address,
      action: 'failed',
      reply: s.outcome.reply,
      ...(s.outcome.attempt ? { attempt: s.outcome.attempt } : {}),
      expired: s.status === 'expired',
    });
  }
  return out.sort((a, b) => a.index - b.index);
}
