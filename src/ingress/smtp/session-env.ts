/**
 * What a session needs from the rest of the server, as one narrow interface.
 *
 * Types only. The listener builds one per listener and passes it to every session;
 * tests can build their own. Nothing here exposes spool or queue internals.
 */
import type { SecureContext } from 'node:tls';
import type { LineEndingPolicy, SmtpLimits, SmtpListenerConfig } from '../../config/types.ts';
import type { SyncOutcome } from '../../feedback/sync-waiters.ts';
import type { AbuseGuard } from '../abuse/abuse-guard.ts';
import type { Acceptor } from '../accept.ts';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

export interface SessionEnv {
  readonly hostname: string;
  readonly listener: SmtpListenerConfig;
  readonly limits: SmtpLimits;
  readonly lineEndings: LineEndingPolicy;
  /** Present when STARTTLS can be offered (or the listener is implicit TLS). */
  readonly secureContext?: SecureContext;
  /** The same certificate as PEM, for implicit-TLS listeners. */
  readonly tlsCredentials?: { readonly key: string; readonly cert: string };
  readonly acceptor: Acceptor;
  /** Whether `ip` is inside the trusted networks. */
  isTrusted(ip: string): boolean;
  /** Whether any AUTH users are configured. */
  readonly authAvailable: boolean;
  /** AUTH lockouts, rate limits and sender restrictions, shared by all listeners; none when absent. */
  readonly abuse?: AbuseGuard;
  /** Checks credentials in constant time; false for unknown users and wrong passwords alike. */
  verifyUser(username: string, password: string): Promise<boolean>;
  /** Bytes the spool can still take (last reading, refreshed by the runtime); MAIL is refused with 452 4.3.1 when a message would not fit. */
  freeBytes(): number;
  log(level: LogLevel, message: string, fields?: Record<string, unknown>): void;
  /** A refusal for a recipient on the suppression list (550 with the reason), or undefined. */
  refuseRecipient?(
    address: string,
  ): { readonly code: number; readonly enhanced: string; readonly text: string } | undefined;
  /** Time from the end of the data to the durable commit, for metrics. */
  observeAcceptLatency?(ms: number): void;
  /** Sync delivery (listeners with `deliveryMode: sync`): first verdicts, and telling whether the refusal went out in the reply. */
  readonly sync?: {
    outcome(messageId: string, budgetMs: number): Promise<SyncOutcome>;
    answered(messageId: string, refusalDelivered: boolean): void;
  };
}
