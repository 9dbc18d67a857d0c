/**
 * One SMTP server session (RFC 5321): socket I/O, framing, phases, timeouts, TLS upgrade.
 *
 * Handles UNTRUSTED input from the first byte. Commands are CRLF-terminated lines
 * of bounded length; a bare CR or LF in a command line is refused (it is how
 * smuggling and desync attacks start). DATA is framed only by the literal
 * CRLF "." CRLF (protocol/data-decoder.ts); BDAT by its byte count. Replies to
 * pipelined commands are collected and written in one packet, always in order.
 * While a message is being committed, input that arrives is held (at most 64 KiB;
 * then the socket is paused and the rest waits in the kernel) and read afterwards.
 * The idle and total time limits are checked by the listener's sweep
 * (`checkTimeouts`), not by timers per session.
 *
 * The verbs themselves live in commands.ts (dispatched through a typed table);
 * this file only moves bytes and keeps state. Fails closed: any internal error
 * answers 421 and closes the connection; nothing is acknowledged before the
 * spool has synced (ingress/accept.ts).
 */
import { isAscii } from 'node:buffer';
import type { Socket } from 'node:net';
import { type SecureContext, TLSSocket } from 'node:tls';
import type { RecipientInput } from '../../contracts/envelope.ts';
import type { ContentChecker } from '../../protocol/content-checker.ts';
import type { DataDecoder } from '../../protocol/data-decoder.ts';
import type { MailFrom } from '../../protocol/mail-params.ts';
import { formatReply } from '../../protocol/reply.ts';
import { continueAuth } from './auth.ts';
import { dispatchCommand, finishBdatChunk, finishData } from './commands.ts';
import type { SessionEnv } from './session-env.ts';

export type Phase =
  | 'command'
  | 'data'
  | 'bdat'
  | 'auth-plain'
  | 'auth-login-user'
  | 'auth-login-pass'
  | 'closed';

export interface Transaction {
  readonly mail: MailFrom;
  readonly recipients: RecipientInput[];
  /** Set once BDAT was used: DATA is then refused for this transaction. */
  bdat?: { checker: ContentChecker; chunks: Buffer[]; received: number; failed?: string };
}

const MAX_BUFFERED_COMMAND_BYTES = 64 * 1024;
/** Input held while a commit or password check runs; past it the socket is paused. */
const MAX_BUFFERED_WHILE_BUSY = 64 * 1024;

export class SmtpSession {
  readonly env: SessionEnv;
  readonly remoteAddress: string;
  readonly remotePort: number;
  #socket: Socket;
  #input: Buffer = Buffer.alloc(0);
  #out = '';
  #busy = false;
  /** The socket was paused because too much input arrived while busy. */
  #paused = false;
  #discardingLongLine = false;
  #lastActiveAt = Date.now();
  readonly #startedAt = this.#lastActiveAt;
  #onClose: () => void;

  phase: Phase = 'command';
  helo: string | undefined;
  esmtp = false;
  tls: { protocol: string; cipher: string } | undefined;
  authUser: string | undefined;
  /** Username given to AUTH LOGIN while waiting for the password. */
  pendingLoginUser: string | undefined;
  tx: Transaction | undefined;
  decoder: DataDecoder | undefined;
  dataChunks: Buffer[] = [];
  bdatRemaining = 0;
  bdatLast = false;
  messages = 0;
  errors = 0;
  #trusted: boolean | undefined;

  constructor(socket: Socket, env: SessionEnv, onClose: () => void) {
    this.env = env;
    this.#socket = socket;
    this.#onClose = onClose;
    this.remoteAddress = normalizeIp(socket.remoteAddress ?? '');
    this.remotePort = socket.remotePort ?? 0;
    if (socket instanceof TLSSocket) this.tls = tlsInfo(socket);
    this.#attach(socket);
    this.replyFormatted(greetingFor(env));
    this.#flush();
  }

  /** Whether the client's address is in a trusted network (asked once per session: the address never changes). */
  get trusted(): boolean {
    this.#trusted ??= this.env.isTrusted(this.remoteAddress);
    return this.#trusted;
  }

  get loopback(): boolean {
    return this.remoteAddress.startsWith('127.') || this.remoteAddress === '::1';
  }

  /** Queues a reply; it is written when the current batch of input has been processed. */
  reply(code: number, enhanced: string | undefined, text: string | readonly string[]): void {
    if (this.phase === 'closed') return;
    this.#out += formatReply(code, enhanced, text);
  }

  /** Queues a reply already in wire form (a formatReply result made once, for the frequent replies). */
  replyFormatted(wire: string): void {
    if (this.phase === 'closed') return;
    this.#out += wire;
  }

  /** Counts a client error and closes the session when there were too many. */
  clientError(code: number, enhanced: string, text: string): void {
    this.errors++;
    if (this.errors >= this.env.limits.maxErrors) {
      this.closeWith(421, '4.7.0', `${this.env.hostname} Error: too many errors`);
      return;
    }
    this.reply(code, enhanced, text);
  }

  /**
   * Sends a final reply and closes the connection; later input is ignored. After
   * QUIT (`quit`), a plain socket whose reply is already with the kernel is closed
   * at once: the kernel still sends the reply, then FIN, and no half-close of a
   * connection the client may already have dropped is attempted.
   */
  closeWith(code: number, enhanced: string | undefined, text: string, quit = false): void {
    if (this.phase === 'closed') return;
    this.reply(code, enhanced, text);
    this.#flush();
    this.phase = 'closed';
    this.#input = Buffer.alloc(0);
    const socket = this.#socket;
    if (quit && !(socket instanceof TLSSocket) && socket.writableLength === 0) {
      socket.destroy();
      return;
    }
    socket.end();
    setTimeout(() => socket.destroy(), 2000).unref();
  }

  resetTransaction(): void {
    this.tx = undefined;
    this.decoder = undefined;
    this.dataChunks = [];
    this.bdatRemaining = 0;
    this.bdatLast = false;
  }

  /** Between transactions with nothing in progress: safe to close at shutdown. */
  get idle(): boolean {
    return this.phase === 'command' && !this.#busy && this.tx === undefined && this.#input.length === 0;
  }

  /** Epoch ms of the last client bytes or finished work (the client's turn since): the listener sheds the longest-idle under pressure. */
  get lastActiveAt(): number {
    return this.#lastActiveAt;
  }

  /**
   * Closes the session when it has run past its time limit, or has been idle (between
   * commands, nothing in progress on our side) past the idle limit. The listener calls
   * this for every session from one periodic sweep: no timer per session.
   */
  checkTimeouts(now: number): void {
    if (this.phase === 'closed') return;
    const limits = this.env.limits;
    if (now - this.#startedAt >= limits.sessionTimeoutMs) {
      this.closeWith(421, '4.4.2', `${this.env.hostname} Error: session time limit exceeded`);
    } else if (!this.#busy && now - this.#lastActiveAt >= limits.idleTimeoutMs) {
      this.closeWith(421, '4.4.2', `${this.env.hostname} Error: timeout exceeded`);
    }
  }

  /** True when more client bytes are already waiting: used to refuse improper pipelining. */
  get hasPendingInput(): boolean {
    return this.#input.length > 0;
  }

  /**
   * Runs async work (a commit, a password check) with replies kept in order: input
   * that arrives meanwhile waits in `#input` (past MAX_BUFFERED_WHILE_BUSY the socket
   * is paused, so the rest waits in the kernel) and is processed afterwards.
   */
  async runBusy(work: () => Promise<void>): Promise<void> {
    this.#busy = true;
    this.#flush();
    try {
      await work();
    } catch (error) {
      this.env.log('error', 'session work failed', { error: String(error), client: this.remoteAddress });
      this.closeWith(421, '4.3.0', `${this.env.hostname} Error: local error, closing connection`);
    } finally {
      this.#busy = false;
      if (this.phase !== 'closed') {
        this.#flush();
        this.#touch();
        if (this.#paused) {
          this.#paused = false;
          this.#socket.resume();
        }
        this.#pump();
      }
    }
  }

  /** Switches to TLS after `220 Ready to start TLS` was flushed; plaintext received meanwhile is discarded. */
  startTls(context: SecureContext): void {
    const raw = this.#socket;
    this.#flush();
    if (this.#input.length > 0) {
      this.env.log('warn', 'discarding plaintext sent before the TLS handshake', {
        client: this.remoteAddress,
        bytes: this.#input.length,
      });
      this.#input = Buffer.alloc(0);
    }
    this.#busy = true;
    raw.removeAllListeners('data');
    raw.removeAllListeners('close');
    raw.removeAllListeners('error');
    const secure = new TLSSocket(raw, { isServer: true, secureContext: context });
    this.#socket = secure;
    const handshakeTimer = setTimeout(() => secure.destroy(), 30_000);
    secure.once('secure', () => {
      clearTimeout(handshakeTimer);
      this.tls = tlsInfo(secure);
      this.helo = undefined;
      this.esmtp = false;
      this.authUser = undefined;
      this.resetTransaction();
      this.#busy = false;
      this.#input = Buffer.alloc(0);
      this.#touch();
    });
    this.#attach(secure);
  }

  #attach(socket: Socket): void {
    socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    socket.on('error', () => socket.destroy());
    socket.on('close', () => this.#closed());
    socket.setNoDelay(true);
  }

  #closed(): void {
    this.phase = 'closed';
    this.#input = Buffer.alloc(0);
    this.dataChunks = [];
    this.#onClose();
  }

  #touch(): void {
    this.#lastActiveAt = Date.now();
  }

  #onData(chunk: Buffer): void {
    if (this.phase === 'closed') return;
    this.#touch();
    this.#input = this.#input.length === 0 ? chunk : Buffer.concat([this.#input, chunk]);
    if (!this.#busy) {
      this.#pump();
      return;
    }
    // Pipelined input during a commit or password check (or a TLS handshake race) is held.
    if (this.#input.length > MAX_BUFFERED_WHILE_BUSY && !this.#paused) {
      this.#paused = true;
      this.#socket.pause();
    }
  }

  /** Processes as much buffered input as the current phase allows, then flushes replies. */
  #pump(): void {
    while (!this.#busy && this.phase !== 'closed' && this.#input.length > 0) {
      if (this.phase === 'data') this.#feedData();
      else if (this.phase === 'bdat') this.#feedBdat();
      else if (!this.#nextLine()) break;
    }
    if (!this.#busy) this.#flush();
  }

  #feedData(): void {
    const decoder = this.decoder!;
    const used = decoder.push(this.#input);
    this.#input = used >= this.#input.length ? Buffer.alloc(0) : this.#input.subarray(used);
    for (const chunk of decoder.takeChunks()) this.dataChunks.push(chunk);
    if (decoder.fatal) {
      this.closeWith(
        521,
        '5.5.2',
        `${this.env.hostname} Error: bare CR or LF in message data; lines must end with CRLF`,
      );
      return;
    }
    if (decoder.done) {
      this.phase = 'command';
      finishData(this);
    }
  }

  #feedBdat(): void {
    const take = Math.min(this.bdatRemaining, this.#input.length);
    const part = this.#input.subarray(0, take);
    this.#input = take >= this.#input.length ? Buffer.alloc(0) : this.#input.subarray(take);
    this.bdatRemaining -= take;
    const bdat = this.tx?.bdat;
    if (bdat) bdat.received += take;
    if (bdat && !bdat.failed) {
      const kept = bdat.checker.push(part);
      if (kept.length > 0) bdat.chunks.push(kept);
    }
    if (this.bdatRemaining === 0) {
      this.phase = 'command';
      finishBdatChunk(this);
    }
  }

  /** Takes one CRLF line from the input and handles it; false when no complete line is buffered. */
  #nextLine(): boolean {
    const input = this.#input;
    const lf = input.indexOf(0x0a);
    const limit = this.env.limits.maxCommandLength + 2;
    if (lf < 0) {
      if (input.length > limit || this.#discardingLongLine) {
        this.#discardingLongLine = true;
        this.#input = Buffer.alloc(0);
      } else if (input.length > MAX_BUFFERED_COMMAND_BYTES) {
        this.closeWith(500, '5.5.2', 'Line too long');
      }
      return false;
    }
    this.#input = lf + 1 >= input.length ? Buffer.alloc(0) : input.subarray(lf + 1);
    if (this.#discardingLongLine || lf + 1 > limit) {
      this.#discardingLongLine = false;
      this.clientError(500, '5.5.2', 'Line too long');
      return true;
    }
    if (lf === 0 || input[lf - 1] !== 0x0d) {
      this.clientError(500, '5.5.2', 'Syntax error: bare LF; command lines must end with CRLF');
      return true;
    }
    const raw = input.subarray(0, lf - 1);
    if (raw.includes(0x0d) || raw.includes(0x00)) {
      this.clientError(500, '5.5.2', 'Syntax error: CR or NUL inside a command line');
      return true;
    }
    // Plain ASCII (nearly every line) needs no UTF-8 decoder.
    let line: string;
    if (isAscii(raw)) {
      line = raw.toString('latin1');
    } else {
      try {
        line = UTF8.decode(raw);
      } catch {
        this.clientError(500, '5.5.2', 'Syntax error: command is not valid UTF-8');
        return true;
      }
    }
    if (this.phase === 'auth-plain' || this.phase === 'auth-login-user' || this.phase === 'auth-login-pass') {
      continueAuth(this, line);
      return true;
    }
    dispatchCommand(this, line);
    return true;
  }

  #flush(): void {
    if (this.#out === '') return;
    const out = this.#out;
    this.#out = '';
    if (!this.#socket.destroyed) this.#socket.write(out);
  }
}

const UTF8 = new TextDecoder('utf-8', { fatal: true });

const greetings = new WeakMap<SessionEnv, string>();

/** The 220 greeting of a listener, formatted once. */
function greetingFor(env: SessionEnv): string {
  let greeting = greetings.get(env);
  if (greeting === undefined) {
    greeting = formatReply(220, undefined, `${env.hostname} ESMTP mxpress`);
    greetings.set(env, greeting);
  }
  return greeting;
}

function tlsInfo(socket: TLSSocket): { protocol: string; cipher: string } {
  const cipher = socket.getCipher();
  return {
    protocol: socket.getProtocol() ?? 'TLS',
    cipher: cipher?.standardName ?? cipher?.name ?? 'unknown',
  };
}

/** `::ffff:127.0.0.1` -> `127.0.0.1`, so policy and logs see one form. */
export function normalizeIp(ip: string): string {
  return ip.startsWith('::ffff:') && ip.includes('.') ? ip.slice(7) : ip;
}
