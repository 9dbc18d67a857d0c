/**
 * Public shapes of the outbound SMTP client: options, transactions, results.
 *
 * Types, the default timeouts and how given timeouts are merged with them. The queue/pool code is written against these;
 * `openSmtpConnection` (session.ts) produces an `SmtpConnection` (connection.ts).
 */
import type { ConnectionOptions } from 'node:tls';
import type { RecipientInput } from '../../contracts/envelope.ts';
import type { SmtpReply } from '../../contracts/status.ts';

/** Per-step timeouts in ms (RFC 5321 4.5.3.2 gives the minimums used as defaults). */
export interface ClientTimeouts {
  /** TCP connect. */
  readonly connectMs: number;
  /** Initial 220 greeting: 5 minutes. */
  readonly greetingMs: number;
  /** EHLO/HELO reply (also each AUTH step). */
  readonly ehloMs: number;
  /** MAIL reply: 5 minutes. */
  readonly mailMs: number;
  /** Each RCPT reply: 5 minutes. */
  readonly rcptMs: number;
  /** DATA's 354 reply: 2 minutes. */
  readonly dataInitMs: number;
  /** Each blocked write of the body (waiting for 'drain'): 3 minutes. */
  readonly dataBlockMs: number;
  /** Reply to the final dot: 10 minutes. */
  readonly dataTermMs: number;
  /** STARTTLS reply and the TLS handshake (also the implicit-TLS handshake). */
  readonly starttlsMs: number;
  /** An unused connection QUITs after this long (checked from the end of its last transaction). */
  readonly idleMs: number;
}

export const DEFAULT_TIMEOUTS: ClientTimeouts = Object.freeze({
  connectMs: 30_000,
  greetingMs: 300_000,
  ehloMs: 300_000,
  mailMs: 300_000,
  rcptMs: 300_000,
  dataInitMs: 120_000,
  dataBlockMs: 180_000,
  dataTermMs: 600_000,
  starttlsMs: 120_000,
  idleMs: 10_000,
});

/** Longest delay setTimeout honours; larger values would fire at once. */
const MAX_TIMER_MS = 2_147_483_647;

/** Defaults overlaid with the given values; missing, non-finite or non-positive values keep the default. */
export function resolveTimeouts(given: Partial<ClientTimeouts> = {}): ClientTimeouts {
  const out: Record<string, number> = { ...DEFAULT_TIMEOUTS };
  for (const key of Object.keys(DEFAULT_TIMEOUTS) as (keyof ClientTimeouts)[]) {
    const value = given[key];
    if (typeof value === 'number' && Number.isFinite(value) && value > 0)
      out[key] = Math.min(value, MAX_TIMER_MS);
  }
  return out as unknown as ClientTimeouts;
}

/** `none`: never STARTTLS. `may`: when offered. `encrypt`: required, any certificate. `verify`: required, valid for mxHost. */
export type TlsPolicy = 'none' | 'may' | 'encrypt' | 'verify';

export interface ConnectOptions {
  /** IP address to connect to (never a name: resolution is the caller's job). */
  readonly host: string;
  readonly port: number;
  /** MX host name: TLS SNI and certificate name, logs. */
  readonly mxHost: string;
  /** Our name for EHLO/HELO. */
  readonly localHostname: string;
  readonly localAddress?: string;
  readonly tls: TlsPolicy;
  readonly timeouts?: Partial<ClientTimeouts>;
  /** Credentials for a relay; sent only over TLS (or to a loopback address). */
  readonly auth?: { readonly username: string; readonly password: string };
  /** TLS from the first byte (port 465 style) instead of STARTTLS. */
  readonly implicitTls?: boolean;
  /** Extra options for tls.connect (e.g. `ca`); `rejectUnauthorized` is decided by `tls`. */
  readonly tlsOptions?: ConnectionOptions;
}

/** A forward path with its DSN parameters: the same shape the envelope stores. */
export type OutboundRecipient = RecipientInput;

export interface OutboundTransaction {
  /** Reverse path; `''` for the null sender `<>`. */
  readonly mailFrom: string;
  readonly recipients: readonly OutboundRecipient[];
  /** The message, CRLF canonical (not trusted: DotStuffer fixes stray CR/LF). */
  readonly body: Uint8Array;
  /** Size announced with SIZE= and compared with the server's limit. */
  readonly size: number;
  /** The body has 8-bit bytes: needs 8BITMIME, sent with BODY=8BITMIME. */
  readonly eightBit: boolean;
  /** Needs SMTPUTF8 (also implied by any non-ASCII envelope address). */
  readonly smtputf8: boolean;
  readonly ret?: 'FULL' | 'HDRS';
  readonly envid?: string;
}

export interface RecipientResult {
  readonly address: string;
  /** The RCPT reply; the MAIL reply when MAIL was refused; the local reply when refused locally. */
  readonly reply: SmtpReply;
  readonly accepted: boolean;
}

export interface TransactionResult {
  readonly mail: SmtpReply;
  readonly recipients: readonly RecipientResult[];
  /** Reply to DATA (when not 354) or to the final dot; present when DATA was sent (>= 1 recipient accepted). */
  readonly data?: SmtpReply;
  readonly durationMs: number;
  /** True when the client refused the transaction itself (SIZE, 8BITMIME, SMTPUTF8) and sent nothing. */
  readonly local?: boolean;
}

export interface TlsInfo {
  readonly protocol: string;
  readonly cipher: string;
  /** Certificate chain valid (and, under `verify`, matching mxHost). */
  readonly authorized: boolean;
}

export interface SmtpConnection {
  readonly mxHost: string;
  readonly ip: string;
  readonly port: number;
  /** EHLO keywords upper-cased -> their parameters ('' when none). Empty after a HELO fallback. */
  readonly extensions: ReadonlyMap<string, string>;
  readonly tls?: TlsInfo;
  /** Transactions on this connection that got as far as sending MAIL (for per-connection caps). */
  readonly messagesSent: number;
  /** False after a session-level failure, a 421, quit() or destroy(). */
  readonly usable: boolean;
  /**
   * One transaction; RSET first only when the previous one stopped before its final dot.
   * `follow` is asked, just before the final dot goes out (PIPELINING servers), for the
   * next transaction: when the connection takes it (`presented`), its MAIL, RCPT and
   * DATA go out in the same write and it MUST be the next `send` here. Rejects with
   * SmtpClientError on session failures.
   */
  send(tx: OutboundTransaction, follow?: () => OutboundTransaction | undefined): Promise<TransactionResult>;
  /** The transaction announced with the last final dot, until its `send`. */
  readonly presented?: OutboundTransaction;
  /** Polite QUIT with a short timeout, then destroy. Never rejects. */
  quit(): Promise<void>;
  destroy(): void;
}
