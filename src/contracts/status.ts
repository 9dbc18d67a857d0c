/**
 * Per-recipient delivery state, attempts and remote replies.
 *
 * Types only. A recipient moves queued -> (deferred)* -> one final state. The
 * transitions themselves are enforced by queue/ and the spool; this file names them.
 */

export type RecipientStatus =
  | 'queued'
  | 'deferred'
  | 'delivered'
  | 'bounced'
  | 'expired'
  | 'suppressed'
  | 'cancelled';

/** Statuses after which no further attempt is made. */
export type FinalStatus = Exclude<RecipientStatus, 'queued' | 'deferred'>;

export const FINAL_STATUSES: ReadonlySet<RecipientStatus> = new Set<RecipientStatus>([
  'delivered',
  'bounced',
  'expired',
  'suppressed',
  'cancelled',
]);

/** An SMTP reply as received from (or sent to) a peer. */
export interface SmtpReply {
  /** Three-digit reply code, e.g. 550. */
  readonly code: number;
  /** Enhanced status code (RFC 3463) like `5.1.1`, when the reply carried one. */
  readonly enhanced?: string;
  /** Reply text without the code prefixes, lines joined with `\n`. */
  readonly text: string;
}

/**
 * Socket error codes (Node's, from the OS) of a connection the peer broke while it was
 * open: the delivery engine stands in X.4.2 (bad connection) for them, and the
 * classifier explains them as a connection reset. One list, so the two cannot drift.
 */
export const CONNECTION_RESET_CODES: readonly string[] = ['ECONNRESET', 'EPIPE', 'ECONNABORTED'];

/** Where a failure lies (decides what gets throttled or retried). */
export type FailureScope = 'session' | 'site' | 'message' | 'recipient';

/** One delivery attempt for one recipient. */
export interface Attempt {
  readonly at: number; // epoch ms when the attempt started
  readonly durationMs: number;
  readonly mxHost?: string;
  readonly ip?: string;
  readonly port?: number;
  readonly tls?: { readonly protocol: string; readonly cipher: string };
  /** `direct` or the name of a relay route. */
  readonly route: string;
  readonly outcome: 'delivered' | 'deferred' | 'failed';
  readonly reply?: SmtpReply;
  /** Local error code when no reply was received (ECONNREFUSED, ETIMEDOUT, DNS_NXDOMAIN, ...). */
  readonly errorCode?: string;
  readonly scope?: FailureScope;
}
