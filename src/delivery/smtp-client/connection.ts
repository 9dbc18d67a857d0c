/**
 * An established outbound SMTP session, ready for transactions (the SmtpConnection API).
 *
 * In: a transport that has passed greeting, EHLO, STARTTLS and AUTH (session.ts makes
 * it). Out: `send` runs one transaction at a time (with `follow`, the next one's
 * commands go out with this one's final dot, and it must be the next `send`:
 * `presented`); the connection counts MAILs sent for the pool's per-connection cap,
 * QUITs itself after `idleMs` unused, and reports `usable: false` once anything went
 * wrong at session level.
 *
 * Failure: `send` rejects with SmtpClientError (session failures; the connection is then
 * destroyed) or resolves with refusals as results. Local validation errors (control
 * characters in an address) reject without sending anything and leave it usable.
 */
import { localRefusal, validateTransaction } from './commands.ts';
import { SmtpClientError } from './errors.ts';
import { commandGroup, runTransaction } from './transaction.ts';
import type { SmtpTransport } from './transport.ts';
import type {
  ClientTimeouts,
  OutboundTransaction,
  SmtpConnection,
  TlsInfo,
  TransactionResult,
} from './types.ts';

/** How long quit() waits for the 221 before destroying the socket. */
const QUIT_TIMEOUT_MS = 5_000;

export interface ConnectionInit {
  readonly transport: SmtpTransport;
  readonly mxHost: string;
  readonly ip: string;
  readonly port: number;
  readonly extensions: ReadonlyMap<string, string>;
  readonly timeouts: ClientTimeouts;
}

export class OutboundSmtpConnection implements SmtpConnection {
  readonly mxHost: string;
  readonly ip: string;
  readonly port: number;
  readonly extensions: ReadonlyMap<string, string>;
  readonly #transport: SmtpTransport;
  readonly #timeouts: ClientTimeouts;
  #messagesSent = 0;
  /** A transaction was started and not ended by a reply to its final dot. */
  #dirty = false;
  /** The transaction whose MAIL, RCPT and DATA went out with the last final dot. */
  #presented: OutboundTransaction | undefined;
  #busy = false;
  #closing = false;
  #idleTimer: NodeJS.Timeout | undefined;

  constructor(init: ConnectionInit) {
    this.mxHost = init.mxHost;
    this.ip = init.ip;
    this.port = init.port;
    this.extensions = init.extensions;
    this.#transport = init.transport;
    this.#timeouts = init.timeouts;
    this.#armIdleTimer();
  }

  get tls(): TlsInfo | undefined {
    return this.#transport.tlsInfo;
  }

  get messagesSent(): number {
    return this.#messagesSent;
  }

  get usable(): boolean {
    return !this.#closing && this.#transport.failure === undefined;
  }

  get presented(): OutboundTransaction | undefined {
    return this.#presented;
  }

  async send(
    tx: OutboundTransaction,
    follow?: () => OutboundTransaction | undefined,
  ): Promise<TransactionResult> {
    if (this.#busy) {
      throw new SmtpClientError({ code: 'BUSY', phase: 'mail', message: 'a transaction is already running' });
    }
    if (!this.usable) {
      throw new SmtpClientError({
        code: 'CLOSED',
        phase: 'mail',
        message: 'connection is no longer usable',
        cause: this.#transport.failure,
      });
    }
    const preSent = this.#presented !== undefined;
    if (preSent && this.#presented !== tx) {
      // Its replies are on their way: this connection cannot carry anything else now.
      this.destroy();
      throw new SmtpClientError({
        code: 'LOCAL',
        phase: 'mail',
        message: 'another transaction was already announced on this connection',
      });
    }
    this.#presented = undefined;
    if (!preSent) validateTransaction(tx);
    this.#busy = true;
    this.#clearIdleTimer();
    try {
      const outcome = await runTransaction(
        {
          transport: this.#transport,
          extensions: this.extensions,
          timeouts: this.#timeouts,
          resetFirst: !preSent && this.#dirty,
          preSent,
          onMailSent: () => {
            this.#messagesSent += 1;
          },
          ...(follow ? { follow: () => this.#announce(follow) } : {}),
        },
        tx,
      );
      if (!outcome.result.local) this.#dirty = outcome.ended !== true;
      if (outcome.sessionBroken) this.destroy();
      return outcome.result;
    } catch (error) {
      // Keep the real reason as the transport's failure (later sends cite it as their cause).
      if (error instanceof SmtpClientError) this.#transport.fail(error);
      this.destroy();
      throw error;
    } finally {
      this.#busy = false;
      if (this.usable) this.#armIdleTimer();
    }
  }

  async quit(): Promise<void> {
    if (this.#closing) return;
    this.#closing = true;
    this.#clearIdleTimer();
    const transport = this.#transport;
    if (this.#busy || transport.failure || this.#presented) {
      transport.destroy();
      return;
    }
    try {
      await transport.sendCommands(['QUIT'], 'quit', QUIT_TIMEOUT_MS);
      await transport.readReply('quit', QUIT_TIMEOUT_MS);
    } catch {
      // The session is over either way.
    } finally {
      transport.destroy();
    }
  }

  destroy(): void {
    this.#closing = true;
    this.#clearIdleTimer();
    this.#transport.destroy();
  }

  /** The command group of `follow`'s transaction, when it may ride with the final dot now. */
  #announce(follow: () => OutboundTransaction | undefined): readonly string[] | undefined {
    if (this.#closing || this.#transport.failure) return undefined;
    const next = follow();
    if (!next) return undefined;
    try {
      validateTransaction(next);
    } catch {
      return undefined; // its own send refuses it, without a byte on the wire
    }
    if (localRefusal(next, this.extensions)) return undefined;
    this.#presented = next;
    this.#messagesSent += 1;
    return commandGroup(next, this.extensions);
  }

  #armIdleTimer(): void {
    this.#clearIdleTimer();
    this.#idleTimer = setTimeout(() => void this.quit(), this.#timeouts.idleMs);
    this.#idleTimer.unref();
  }

  #clearIdleTimer(): void {
    if (this.#idleTimer) clearTimeout(this.#idleTimer);
    this.#idleTimer = undefined;
  }
}
