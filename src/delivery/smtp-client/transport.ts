/**
 * The byte level of an outbound SMTP session: one TCP (or TLS) socket, replies parsed
 * strictly, matched in order to the commands that asked for them, every wait bounded.
 *
 * In: command lines to send, body bytes to write, TLS options for an upgrade. Out:
 * replies (`readReply`), in the order the commands were written (RFC 2920 pipelining
 * just means several are outstanding). Reads UNTRUSTED bytes from the server.
 *
 * Safety rules kept here:
 *  - Bytes that arrive while no reply is expected are a protocol error: the server is
 *    confused or trying to inject replies, and the connection is dropped.
 *  - After the reply to STARTTLS everything the server sent in plaintext is discarded
 *    (the CVE-2011-0411 class), and the parser starts fresh on the TLS stream.
 *  - A command line containing CR or LF is refused before any byte is written.
 *
 * Failure: the first failure (socket error, close, timeout, protocol error) is kept,
 * the socket destroyed, and every pending and later operation rejects with an
 * `SmtpClientError`. Replies that arrived before a close can still be read.
 */
import net from 'node:net';
import tls from 'node:tls';
import type { SmtpReply } from '../../contracts/status.ts';
import { ReplyParseError, ReplyParser } from '../../protocol/reply-parser.ts';
import { fromSocketError, SmtpClientError, type SmtpClientPhase } from './errors.ts';
import type { TlsInfo } from './types.ts';

export interface TransportConnectOptions {
  readonly host: string;
  readonly port: number;
  readonly localAddress?: string;
  readonly connectMs: number;
  /** TLS from the first byte (implicit TLS), with its own handshake timeout. */
  readonly implicitTls?: { readonly options: tls.ConnectionOptions; readonly handshakeMs: number };
}

type Rejecter = (error: SmtpClientError) => void;

export class SmtpTransport {
  #socket: net.Socket;
  #parser = new ReplyParser();
  #replies: SmtpReply[] = [];
  /** Replies expected but not yet received; the server speaks first, so 1 at the start. */
  #outstanding = 1;
  #failure: SmtpClientError | undefined;
  #phase: SmtpClientPhase = 'connect';
  #handshaking = false;
  #discardAfterReply = false;
  #discarding = false;
  #plaintextDiscarded = false;
  #tlsInfo: TlsInfo | undefined;
  /** The one `readReply` waiting for a reply (replies are read one at a time, in order). */
  #replyWaiter: { resolve(reply: SmtpReply): void; reject: Rejecter } | undefined;
  readonly #waiters = new Set<Rejecter>();
  /**
   * The time limit of the reply being waited for: one timer per connection, re-armed
   * for each wait (`refresh` when the limit is the same) rather than one per reply.
   */
  #deadline: NodeJS.Timeout | undefined;
  #deadlineMs = 0;
  #deadlineWhat = '';

  private constructor(socket: net.Socket) {
    this.#socket = socket;
    this.#attach(socket);
  }

  static async connect(options: TransportConnectOptions): Promise<SmtpTransport> {
    const base = { host: options.host, port: options.port, localAddress: options.localAddress };
    const socket = options.implicitTls
      ? tls.connect({ ...options.implicitTls.options, ...base })
      : net.connect({ ...base, autoSelectFamily: false });
    const transport = new SmtpTransport(socket);
    await transport.#wait<void>('connect', options.connectMs, 'the TCP connection', (done) => {
      const onConnect = () => done();
      socket.once('connect', onConnect);
      return () => socket.off('connect', onConnect);
    });
    socket.setNoDelay(true);
    if (options.implicitTls && socket instanceof tls.TLSSocket) {
      await transport.#handshake(socket, options.implicitTls.handshakeMs);
    }
    return transport;
  }

  /** The first failure, once there is one. */
  get failure(): SmtpClientError | undefined {
    return this.#failure;
  }

  get tlsInfo(): TlsInfo | undefined {
    return this.#tlsInfo;
  }

  /** True when plaintext sent after the STARTTLS reply was dropped (the server tried something). */
  get plaintextDiscarded(): boolean {
    return this.#plaintextDiscarded;
  }

  /**
   * Writes command lines in one write (one packet when pipelining) and expects one reply
   * per line. `discardAfterReply` is for STARTTLS: anything after its reply is dropped.
   */
  sendCommands(
    lines: readonly string[],
    phase: SmtpClientPhase,
    timeoutMs: number,
    options: { readonly discardAfterReply?: boolean } = {},
  ): Promise<void> | undefined {
    const bytes = commandBytes(lines, phase);
    this.#throwIfFailed(phase);
    this.#outstanding += lines.length;
    if (options.discardAfterReply) this.#discardAfterReply = true;
    return this.writeData(bytes, phase, timeoutMs);
  }

  /**
   * Writes `bytes` (the end of a message, in parts) and then command lines in one write, expecting
   * one reply per line after those already outstanding: the next transaction's MAIL,
   * RCPT and DATA riding with this one's final dot (RFC 2920 pipelining).
   */
  writeDataThenCommands(
    bytes: readonly Uint8Array[],
    lines: readonly string[],
    phase: SmtpClientPhase,
    timeoutMs: number,
  ): Promise<void> | undefined {
    const commands = commandBytes(lines, 'mail');
    this.#throwIfFailed(phase);
    this.#outstanding += lines.length;
    return this.writeData(Buffer.concat([...bytes, commands]), phase, timeoutMs);
  }

  /** Expects one more reply without sending a command (the reply to the final dot). */
  expectReply(): void {
    this.#outstanding += 1;
  }

  /**
   * Writes bytes. Returns undefined when the socket took them (the usual case: callers
   * need not wait), else a promise of 'drain' (bounded by timeoutMs). Throws at once
   * when the transport has failed.
   */
  writeData(bytes: Uint8Array, phase: SmtpClientPhase, timeoutMs: number): Promise<void> | undefined {
    this.#throwIfFailed(phase);
    this.#phase = phase;
    const socket = this.#socket;
    if (socket.write(bytes)) return undefined;
    return this.#wait<void>(phase, timeoutMs, 'the socket to drain', (done) => {
      const onDrain = () => done();
      socket.once('drain', onDrain);
      return () => socket.off('drain', onDrain);
    });
  }

  /**
   * The next reply in command order: at once when it has arrived already, else a
   * promise of it (rejected on failure, or on timeout, which fails the transport).
   * Throws at once when the transport has failed and no reply is left.
   */
  readReply(phase: SmtpClientPhase, timeoutMs: number): SmtpReply | Promise<SmtpReply> {
    const queued = this.#replies.shift();
    if (queued) return queued;
    this.#throwIfFailed(phase);
    if (this.#outstanding === 0) throw new Error('SmtpTransport: readReply with no command outstanding');
    this.#phase = phase;
    return new Promise<SmtpReply>((resolve, reject) => {
      this.#replyWaiter = { resolve, reject };
      this.#arm(timeoutMs, 'a reply');
    });
  }

  /** Starts the time limit of a reply wait. */
  #arm(timeoutMs: number, what: string): void {
    this.#deadlineWhat = what;
    if (this.#deadline !== undefined && this.#deadlineMs === timeoutMs) {
      this.#deadline.refresh();
      return;
    }
    clearTimeout(this.#deadline);
    this.#deadlineMs = timeoutMs;
    this.#deadline = setTimeout(this.#onDeadline, timeoutMs);
    this.#deadline.unref();
  }

  /** The limit ran out: only a wait still under way fails the transport. */
  readonly #onDeadline = (): void => {
    this.#deadline = undefined;
    if (this.#replyWaiter === undefined) return;
    const message = `no ${this.#deadlineWhat} within ${this.#deadlineMs} ms`;
    this.fail(new SmtpClientError({ code: 'ETIMEDOUT', phase: this.#phase, message }));
  };

  /** Upgrades to TLS after a 220 to STARTTLS; the plaintext parser state is thrown away. */
  async startTls(options: tls.ConnectionOptions, timeoutMs: number): Promise<void> {
    this.#throwIfFailed('starttls');
    const raw = this.#socket;
    this.#detach(raw);
    raw.on('error', () => {}); // errors surface on the TLS socket from now on
    this.#parser = new ReplyParser();
    this.#replies = [];
    this.#outstanding = 0;
    this.#discardAfterReply = false;
    this.#discarding = false;
    const secure = tls.connect({ ...options, socket: raw });
    this.#socket = secure;
    this.#attach(secure);
    await this.#handshake(secure, timeoutMs);
  }

  /** Fails the transport (first failure wins) and destroys the socket. */
  fail(error: SmtpClientError): void {
    if (this.#failure) return;
    this.#failure = error;
    this.#socket.destroy();
    clearTimeout(this.#deadline);
    this.#deadline = undefined;
    const waiter = this.#replyWaiter;
    this.#replyWaiter = undefined;
    waiter?.reject(error);
    for (const reject of [...this.#waiters]) reject(error);
  }

  destroy(): void {
    this.fail(
      new SmtpClientError({ code: 'CLOSED', phase: this.#phase, message: 'connection closed locally' }),
    );
  }

  async #handshake(socket: tls.TLSSocket, timeoutMs: number): Promise<void> {
    this.#handshaking = true;
    await this.#wait<void>('starttls', timeoutMs, 'the TLS handshake', (done) => {
      const onSecure = () => done();
      socket.once('secureConnect', onSecure);
      return () => socket.off('secureConnect', onSecure);
    });
    this.#handshaking = false;
    this.#tlsInfo = {
      protocol: socket.getProtocol() ?? 'unknown',
      cipher: socket.getCipher()?.name ?? 'unknown',
      authorized: socket.authorized,
    };
  }

  #throwIfFailed(phase: SmtpClientPhase): void {
    if (this.#failure) throw this.#failure;
    if (this.#socket.destroyed) {
      this.fail(new SmtpClientError({ code: 'CLOSED', phase, message: 'connection already closed' }));
      throw this.#failure;
    }
  }

  /** Waits for `register`'s callback, a failure, or the timeout (which fails the transport). */
  #wait<T>(
    phase: SmtpClientPhase,
    timeoutMs: number,
    what: string,
    register: (done: (value: T) => void) => () => void,
  ): Promise<T> {
    this.#phase = phase;
    if (this.#failure) return Promise.reject(this.#failure);
    return new Promise<T>((resolve, reject) => {
      let unregister = () => {};
      const finish = () => {
        clearTimeout(timer);
        this.#waiters.delete(onFailure);
        unregister();
      };
      const onFailure: Rejecter = (error) => {
        finish();
        reject(error);
      };
      const timer = setTimeout(() => {
        const message = `no ${what} within ${timeoutMs} ms`;
        this.fail(new SmtpClientError({ code: 'ETIMEDOUT', phase, message }));
      }, timeoutMs);
      this.#waiters.add(onFailure);
      unregister = register((value) => {
        finish();
        resolve(value);
      });
    });
  }

  readonly #onData = (chunk: Buffer): void => {
    if (this.#failure) return;
    if (this.#discarding) {
      this.#plaintextDiscarded = true;
      return;
    }
    if (this.#outstanding === 0)
      return this.#protocolError('the server sent data while no reply was expected');
    let replies: SmtpReply[];
    try {
      replies = this.#parser.push(chunk);
    } catch (error) {
      if (!(error instanceof ReplyParseError)) throw error;
      return this.#protocolError(`malformed reply (${error.reason})`, error);
    }
    for (let i = 0; i < replies.length; i++) {
      if (this.#outstanding === 0) return this.#protocolError('the server sent more replies than commands');
      this.#outstanding -= 1;
      const reply = replies[i]!;
      this.#deliver(reply);
      if (this.#discardAfterReply) {
        this.#discardAfterReply = false;
        // A refusal means no upgrade: the session goes on (and ends) in plaintext.
        if (reply.code !== 220) continue;
        // Everything after the 220 is plaintext the server should not have sent.
        this.#discarding = true;
        if (i < replies.length - 1 || this.#parser.pending) this.#plaintextDiscarded = true;
        return;
      }
    }
    if (this.#outstanding === 0 && this.#parser.pending) {
      this.#protocolError('the server sent more replies than commands');
    }
  };

  readonly #onError = (error: Error): void => {
    this.fail(fromSocketError(error, this.#phase, this.#handshaking));
  };

  readonly #onClose = (): void => {
    const message = this.#handshaking
      ? 'connection closed during the TLS handshake'
      : 'connection closed by the server';
    this.fail(
      new SmtpClientError({ code: this.#handshaking ? 'TLS_FAILED' : 'CLOSED', phase: this.#phase, message }),
    );
  };

  #deliver(reply: SmtpReply): void {
    const waiter = this.#replyWaiter;
    if (waiter) {
      // The deadline timer stays armed (re-armed by the next wait): it does nothing
      // when it fires with no wait under way.
      this.#replyWaiter = undefined;
      waiter.resolve(reply);
    } else {
      this.#replies.push(reply);
    }
  }

  #protocolError(message: string, cause?: unknown): void {
    this.fail(new SmtpClientError({ code: 'PROTOCOL', phase: this.#phase, message, cause }));
  }

  #attach(socket: net.Socket): void {
    socket.on('data', this.#onData);
    socket.on('error', this.#onError);
    socket.on('close', this.#onClose);
  }

  #detach(socket: net.Socket): void {
    socket.off('data', this.#onData);
    socket.off('error', this.#onError);
    socket.off('close', this.#onClose);
  }
}

/** The lines as CRLF-terminated bytes; refuses (before anything is written) a line holding CR or LF. */
function commandBytes(lines: readonly string[], phase: SmtpClientPhase): Buffer {
  for (const line of lines) {
    if (/[\r\n]/.test(line)) {
      throw new SmtpClientError({
        code: 'PROTOCOL',
        phase,
        message: 'refusing to send a command containing CR or LF',
        temporary: false,
      });
    }
  }
  return Buffer.from(lines.map((line) => `${line}\r\n`).join(''), 'utf8');
}
