/**
 * SmtpClientError: every way an outbound session can fail, as one typed value.
 *
 * `code` is stable for programs (node's socket codes pass through: ECONNREFUSED,
 * EHOSTUNREACH, ...), `phase` says which step failed, `reply` is the server's reply
 * when there was one, `temporary` says whether trying later may help. Without a reply
 * a failure counts as temporary (unknown failures never become permanent bounces).
 * Transaction-level refusals (a 550 to RCPT) are NOT errors: they are results.
 */
import type { SmtpReply } from '../../contracts/status.ts';

export type SmtpClientPhase =
  | 'connect'
  | 'greeting'
  | 'ehlo'
  | 'starttls'
  | 'auth'
  | 'mail'
  | 'rcpt'
  | 'data'
  | 'data-term'
  | 'rset'
  | 'quit';

export type SmtpClientErrorCode =
  | 'ECONNREFUSED'
  | 'ETIMEDOUT'
  | 'ECONNRESET'
  | 'EHOSTUNREACH'
  | 'ENETUNREACH'
  /** STARTTLS refused or the handshake failed (including certificate checks under `verify`). */
  | 'TLS_FAILED'
  /** `encrypt`/`verify` but no STARTTLS offered; or AUTH wanted over plaintext. */
  | 'TLS_REQUIRED'
  /** The server broke the protocol, or we refused to send something unsafe. */
  | 'PROTOCOL'
  | 'GREETING_REJECTED'
  /** The server closed the connection (or it was closed locally). */
  | 'CLOSED'
  /** A session command (EHLO/HELO, RSET) was refused with a reply. */
  | 'REJECTED'
  | 'AUTH_FAILED'
  | 'AUTH_UNAVAILABLE'
  /** send() while another send() is running on the same connection. */
  | 'BUSY'
  /** Options that cannot work (host not an IP, bad EHLO name). */
  | 'INVALID'
  /** mxpress's own failure while sending: the message could not be read, or a bug. */
  | 'LOCAL'
  | (string & {});

export interface SmtpClientErrorInit {
  readonly code: SmtpClientErrorCode;
  readonly phase: SmtpClientPhase;
  readonly message: string;
  readonly reply?: SmtpReply;
  /** Default: reply ? reply.code < 500 : true. */
  readonly temporary?: boolean;
  readonly cause?: unknown;
}

export class SmtpClientError extends Error {
  readonly code: SmtpClientErrorCode;
  readonly phase: SmtpClientPhase;
  readonly reply?: SmtpReply;
  readonly temporary: boolean;

  constructor(init: SmtpClientErrorInit) {
    super(init.message, init.cause === undefined ? undefined : { cause: init.cause });
    this.name = 'SmtpClientError';
    this.code = init.code;
    this.phase = init.phase;
    if (init.reply !== undefined) this.reply = init.reply;
    this.temporary = init.temporary ?? (init.reply ? init.reply.code < 500 : true);
  }
}

/** Maps a node socket/TLS error to an SmtpClientError; codes like ECONNREFUSED pass through. */
export function fromSocketError(
  error: unknown,
  phase: SmtpClientPhase,
  tlsHandshake: boolean,
): SmtpClientError {
  if (error instanceof SmtpClientError) return error;
  const raw = (error as { code?: unknown } | undefined)?.code;
  const message = error instanceof Error ? error.message : String(error);
  if (tlsHandshake) {
    return new SmtpClientError({
      code: 'TLS_FAILED',
      phase,
      message: `TLS handshake failed: ${message}`,
      cause: error,
    });
  }
  const code = typeof raw === 'string' && /^[A-Z][A-Z0-9_]*$/.test(raw) ? raw : 'ECONNRESET';
  return new SmtpClientError({ code, phase, message, cause: error });
}

/** Describes a reply for error messages: "550 5.1.1 text" (text capped). */
export function describeReply(reply: SmtpReply): string {
  const text = reply.text.replace(/\n/g, ' ').slice(0, 200);
  return [String(reply.code), reply.enhanced, text].filter((part) => part).join(' ');
}
