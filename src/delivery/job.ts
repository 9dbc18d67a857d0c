/**
 * A delivery job: one message, one recipient domain, the recipients still pending.
 *
 * Types only (plus a tiny constructor helper). The queue builds jobs from claimed
 * recipients; delivery turns each into one outcome per recipient. Several
 * recipients of one domain travel in one SMTP transaction.
 */
import type { BodyType, DsnNotify, OriginalRecipient } from '../contracts/envelope.ts';
import type { Attempt, FailureScope, SmtpReply } from '../contracts/status.ts';

export interface JobRecipient {
  readonly index: number;
  readonly address: string;
  readonly notify?: readonly DsnNotify[] | 'NEVER';
  readonly orcpt?: OriginalRecipient;
  /** Attempts made before this one. */
  readonly attempts: number;
  /** When the previous attempt was recorded (absent before the first attempt). */
  readonly previousAttemptAt?: number;
}

export interface DeliveryJob {
  readonly messageId: string;
  readonly receivedAt: number;
  readonly mailFrom: string;
  readonly size: number;
  readonly bodyType: BodyType;
  readonly smtputf8: boolean;
  readonly ret?: 'FULL' | 'HDRS';
  readonly envid?: string;
  /** Lower-case recipient domain (or `[ip]` address literal). */
  readonly domain: string;
  readonly recipients: readonly JobRecipient[];
  /** How many recipients the whole message has (more than this job's when it spans domains). */
  readonly messageRecipients: number;
}

export type OutcomeKind = 'delivered' | 'deferred' | 'failed';

export interface RecipientOutcome {
  readonly index: number;
  readonly address: string;
  readonly kind: OutcomeKind;
  readonly reply: SmtpReply;
  /** The attempt record; absent when no connection was tried (DNS verdicts). */
  readonly attempt?: Attempt;
  readonly errorCode?: string;
  readonly scope: FailureScope | 'none';
  /** `direct` or `relay:<name>`. */
  readonly route: string;
  /** The next hop advertised DSN, so NOTIFY/ORCPT went on with the message (RFC 3461). */
  readonly nextHopDsn?: boolean;
}

/** The same verdict for every recipient of a job (DNS failures, site failures). */
export function outcomeForAll(
  job: DeliveryJob,
  kind: OutcomeKind,
  reply: SmtpReply,
  fields: { attempt?: Attempt; errorCode?: string; scope: FailureScope | 'none'; route: string },
): RecipientOutcome[] {
  return job.recipients.map((r) => ({
    index: r.index,
    address: r.address,
    kind,
    reply,
    scope: fields.scope,
    route: fields.route,
    ...(fields.attempt ? { attempt: fields.attempt } : {}),
    ...(fields.errorCode ? { errorCode: fields.errorCode } : {}),
  }));
}
