/**
 * One connection of the SMTP sink (smtp-sink.ts): reads bytes, cuts them into
 * command lines, DATA content or BDAT chunks, and answers strictly in order.
 *
 * Everything runs through one sequential pump, so pipelined commands are handled
 * and answered in the order received, and a reply delay delays everything after
 * it. DATA ends only at CRLF "." CRLF (the first line counts as following a CRLF).
 * Plaintext pipelined after STARTTLS is discarded, as RFC 3207 requires. Limits:
 * 64 KiB without a line end, 110 MB of message data; beyond them the connection
 * is closed. Input is UNTRUSTED-ish test traffic: nothing here throws out of the
 * session; a failure destroys the socket.
 */
import { once } from 'node:events';
import type { Socket } from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';
import { createSecureContext, TLSSocket } from 'node:tls';
import { DEFAULT_EXTENSIONS, type SinkHost, type SinkMessage } from './smtp-sink.ts';

const MAX_PENDING_LINE = 64 * 1024;
const MAX_MESSAGE_BYTES = 110 * 1024 * 1024;
const TLS_HANDSHAKE_TIMEOUT_MS = 10_000;
const CR = 0x0d;
const LF = 0x0a;
const DOT = 0x2e;

/** Where the DATA scanner is: at a line start, after "." at a line start, after ".\r", mid-line, after "\r". */
type ScanState = 'line-start' | 'dot' | 'dot-cr' | 'mid' | 'cr';
type Mode = 'command' | 'data' | 'bdat' | 'stalled' | 'closed';

interface Transaction {
  readonly from: string;
  readonly params: string;
  readonly rcpts: string[];
  readonly rcptParams: string[];
  readonly chunks: Buffer[];
  usedBdat: boolean;
}

/** Removes the leading "." that the sender added to lines starting with "." (RFC 5321 4.5.2). */
function unstuff(raw: Buffer): Buffer {
  const out = Buffer.alloc(raw.length);
  let length = 0;
  let lineStart = true;
  for (let i = 0; i < raw.length; i++) {
    const byte = raw[i]!;
    if (!(lineStart && byte === DOT)) out[length++] = byte;
    lineStart = byte === LF && i > 0 && raw[i - 1] === CR;
  }
  return out.subarray(0, length);
}

export class SinkSession {
  readonly #id: number;
  readonly #host: SinkHost;
  #socket: Socket;
  #tls = false;
  #mode: Mode = 'command';
  #buffer: Buffer = Buffer.alloc(0);
  #running = false;
  #helo = '';
  #tx: Transaction | undefined;
  #dataChunks: Buffer[] = [];
  #dataSize = 0;
  #scan: ScanState = 'line-start';
  #dotAt = -1;
  #bdatRemaining = 0;
  #bdatLast = false;
  #bdatSize = 0;
  #bdatError: string | undefined;

  readonly #onData = (chunk: Buffer): void => {
    if (this.#mode === 'stalled' || this.#mode === 'closed') return;
    this.#buffer = this.#buffer.length === 0 ? chunk : Buffer.concat([this.#buffer, chunk]);
    void this.#pump();
  };

  readonly #handlers: Record<string, (arg: string) => Promise<void>> = {
    EHLO: (arg) => this.#ehlo(arg),
    HELO: (arg) => this.#heloCommand(arg),
    MAIL: (arg) => this.#mail(arg),
    RCPT: (arg) => this.#rcpt(arg),
    DATA: (arg) => this.#data(arg),
    BDAT: (arg) => this.#bdat(arg),
    RSET: async () => {
      this.#tx = undefined;
      await this.#reply('250 2.0.0 Ok');
    },
    NOOP: () => this.#reply('250 2.0.0 Ok'),
    VRFY: () => this.#reply('252 2.5.0 Cannot VRFY user'),
    HELP: () => this.#reply('214 2.0.0 sink.test test server'),
    STARTTLS: (arg) => this.#starttls(arg),
    QUIT: async () => {
      await this.#reply('221 2.0.0 Bye');
      this.#close(false);
    },
  };

  constructor(socket: Socket, connectionId: number, host: SinkHost) {
    this.#socket = socket;
    this.#id = connectionId;
    this.#host = host;
  }

  start(): void {
    const socket = this.#socket;
    socket.on('data', this.#onData);
    socket.on('error', () => socket.destroy());
    socket.on('close', () => {
      this.#mode = 'closed';
    });
    const script = this.#host.script();
    const decision =
      script.onConnect?.({ connectionId: this.#id, remoteAddress: socket.remoteAddress ?? '' }) ?? 'accept';
    if (decision === 'hangup') {
      this.#close(true);
      return;
    }
    this.#running = true;
    const greeting =
      decision === 'refuse-421'
        ? '421 4.3.2 sink.test Service not available'
        : (script.banner ?? '220 sink.test ESMTP');
    void this.#reply(greeting)
      .then(() => {
        this.#running = false;
        if (decision === 'refuse-421') this.#close(false);
        else return this.#pump();
      })
      .catch(() => this.#close(true));
  }

  async #pump(): Promise<void> {
    if (this.#running) return;
    this.#running = true;
    try {
      while (this.#mode !== 'closed' && this.#mode !== 'stalled' && (await this.#step()));
    } catch {
      this.#close(true);
    } finally {
      this.#running = false;
    }
  }

  /** Handles one unit of input; false when more bytes are needed. */
  async #step(): Promise<boolean> {
    switch (this.#mode) {
      case 'command':
        return this.#stepCommand();
      case 'data':
        return this.#stepData();
      case 'bdat':
        return this.#stepBdat();
      default:
        return false;
    }
  }

  async #stepCommand(): Promise<boolean> {
    const lf = this.#buffer.indexOf(LF);
    if (lf < 0) {
      if (this.#buffer.length > MAX_PENDING_LINE) {
        await this.#reply('500 5.5.2 Line too long');
        this.#close(false);
      }
      return false;
    }
    const end = lf > 0 && this.#buffer[lf - 1] === CR ? lf - 1 : lf;
    const line = this.#buffer.subarray(0, end).toString('utf8');
    this.#buffer = this.#buffer.subarray(lf + 1);
    this.#host.recordLine(this.#id, line);
    const verb = (/^\S*/.exec(line)?.[0] ?? '').toUpperCase();
    const handler = Object.hasOwn(this.#handlers, verb) ? this.#handlers[verb] : undefined;
    if (handler === undefined) await this.#reply('500 5.5.2 Command not recognized');
    else await handler(line.slice(verb.length).trim());
    return true;
  }

  async #stepData(): Promise<boolean> {
    const chunk = this.#buffer;
    if (chunk.length === 0) return false;
    let end = -1;
    for (let i = 0; i < chunk.length && end < 0; i++) {
      const byte = chunk[i]!;
      switch (this.#scan) {
        case 'line-start':
          if (byte === DOT) this.#dotAt = this.#dataSize + i;
          this.#scan = byte === DOT ? 'dot' : byte === CR ? 'cr' : 'mid';
          break;
        case 'dot':
          this.#scan = byte === CR ? 'dot-cr' : 'mid';
          break;
        case 'dot-cr':
          if (byte === LF) end = i;
          else this.#scan = byte === CR ? 'cr' : 'mid';
          break;
        case 'mid':
          if (byte === CR) this.#scan = 'cr';
          break;
        case 'cr':
          this.#scan = byte === LF ? 'line-start' : byte === CR ? 'cr' : 'mid';
          break;
      }
    }
    const taken = end < 0 ? chunk.length : end + 1;
    this.#dataChunks.push(chunk.subarray(0, taken));
    this.#dataSize += taken;
    this.#buffer = chunk.subarray(taken);
    if (end < 0) {
      if (this.#dataSize > MAX_MESSAGE_BYTES) {
        await this.#reply('552 5.3.4 Message too big');
        this.#close(false);
      }
      return false;
    }
    const raw = Buffer.from(Buffer.concat(this.#dataChunks).subarray(0, this.#dotAt));
    this.#dataChunks = [];
    this.#dataSize = 0;
    this.#mode = 'command';
    await this.#finishMessage(raw, unstuff(raw));
    return true;
  }

  async #stepBdat(): Promise<boolean> {
    if (this.#bdatRemaining > 0) {
      if (this.#buffer.length === 0) return false;
      const take = Math.min(this.#bdatRemaining, this.#buffer.length);
      if (this.#bdatError === undefined) this.#tx?.chunks.push(Buffer.from(this.#buffer.subarray(0, take)));
      this.#buffer = this.#buffer.subarray(take);
      this.#bdatRemaining -= take;
      if (this.#bdatRemaining > 0) return false;
    }
    this.#mode = 'command';
    if (this.#bdatError !== undefined) {
      if (this.#bdatLast) this.#tx = undefined;
      await this.#reply(this.#bdatError);
    } else if (!this.#bdatLast) {
      await this.#reply(`250 2.0.0 ${this.#bdatSize} octets received`);
    } else {
      const raw = Buffer.concat(this.#tx?.chunks ?? []);
      await this.#finishMessage(raw, raw);
    }
    return true;
  }

  async #finishMessage(raw: Buffer, body: Buffer): Promise<void> {
    const tx = this.#tx;
    this.#tx = undefined;
    if (tx === undefined) return;
    const message: SinkMessage = {
      connectionId: this.#id,
      helo: this.#helo,
      tls: this.#tls,
      mailFrom: tx.from,
      mailParams: tx.params,
      rcptTo: [...tx.rcpts],
      rcptParams: [...tx.rcptParams],
      raw,
      body,
      receivedAt: Date.now(),
    };
    const script = this.#host.script();
    if (script.hangupAfterDot) {
      this.#host.accept(message);
      this.#close(true);
      return;
    }
    if (script.stallInData) {
      this.#mode = 'stalled';
      return;
    }
    const reply = script.onData?.(message) ?? '250 2.0.0 Ok: queued';
    if (reply.startsWith('2')) this.#host.accept(message);
    await this.#reply(reply);
  }

  async #ehlo(arg: string): Promise<void> {
    const script = this.#host.script();
    if (script.rejectEhlo) return this.#reply('502 5.5.1 EHLO not supported');
    if (arg === '') return this.#reply('501 5.5.4 EHLO needs a domain');
    this.#helo = arg;
    this.#tx = undefined;
    const keywords = [...(script.extensions ?? DEFAULT_EXTENSIONS)];
    if (script.tls !== undefined && !this.#tls) keywords.push('STARTTLS');
    const lines = [`sink.test greets ${arg}`, ...keywords];
    await this.#reply(lines.map((l, i) => `250${i === lines.length - 1 ? ' ' : '-'}${l}`).join('\n'));
  }

  async #heloCommand(arg: string): Promise<void> {
    if (arg === '') return this.#reply('501 5.5.4 HELO needs a domain');
    this.#helo = arg;
    this.#tx = undefined;
    await this.#reply('250 sink.test');
  }

  async #mail(arg: string): Promise<void> {
    if (this.#helo === '') return this.#reply('503 5.5.1 Send HELO or EHLO first');
    if (this.#tx !== undefined) return this.#reply('503 5.5.1 Nested MAIL command');
    const match = /^FROM:\s*<([^>]*)>\s*(.*)$/i.exec(arg);
    if (match === null) return this.#reply('501 5.5.4 Syntax: MAIL FROM:<address>');
    const [from, params] = [match[1]!, match[2]!];
    const reply = this.#host.script().onMail?.(from, params) ?? '250 2.1.0 Ok';
    if (reply.startsWith('2'))
      this.#tx = { from, params, rcpts: [], rcptParams: [], chunks: [], usedBdat: false };
    await this.#reply(reply);
  }

  async #rcpt(arg: string): Promise<void> {
    const tx = this.#tx;
    if (tx === undefined) return this.#reply('503 5.5.1 Need MAIL command');
    const match = /^TO:\s*<([^>]*)>\s*(.*)$/i.exec(arg);
    if (match === null) return this.#reply('501 5.5.4 Syntax: RCPT TO:<address>');
    const [to, params] = [match[1]!, match[2]!];
    const reply = this.#host.script().onRcpt?.(to, params) ?? '250 2.1.5 Ok';
    if (reply.startsWith('2')) {
      tx.rcpts.push(to);
      tx.rcptParams.push(params);
    }
    await this.#reply(reply);
  }

  async #data(arg: string): Promise<void> {
    if (arg !== '') return this.#reply('501 5.5.4 DATA takes no parameters');
    if (this.#tx === undefined) return this.#reply('503 5.5.1 Need MAIL command');
    if (this.#tx.usedBdat) return this.#reply('503 5.5.1 DATA after BDAT');
    if (this.#tx.rcpts.length === 0) return this.#reply('554 5.5.1 No valid recipients');
    this.#mode = 'data';
    this.#scan = 'line-start';
    this.#dotAt = -1;
    await this.#reply('354 End data with <CR><LF>.<CR><LF>');
  }

  async #bdat(arg: string): Promise<void> {
    const match = /^(\d{1,9})(\s+LAST)?$/i.exec(arg);
    if (match === null) return this.#reply('501 5.5.4 Syntax: BDAT size [LAST]');
    const offered = (this.#host.script().extensions ?? DEFAULT_EXTENSIONS).some((e) =>
      /^CHUNKING\b/i.test(e),
    );
    const tx = this.#tx;
    const total = (tx?.chunks.reduce((n, c) => n + c.length, 0) ?? 0) + Number(match[1]);
    this.#bdatError = !offered
      ? '502 5.5.1 BDAT not offered'
      : tx === undefined
        ? '503 5.5.1 Need MAIL command'
        : tx.rcpts.length === 0
          ? '554 5.5.1 No valid recipients'
          : total > MAX_MESSAGE_BYTES
            ? '552 5.3.4 Message too big'
            : undefined;
    if (tx !== undefined) tx.usedBdat = true;
    this.#bdatRemaining = Number(match[1]);
    this.#bdatSize = this.#bdatRemaining;
    this.#bdatLast = match[2] !== undefined;
    this.#mode = 'bdat';
  }

  async #starttls(arg: string): Promise<void> {
    const credentials = this.#host.script().tls;
    if (credentials === undefined) return this.#reply('502 5.5.1 STARTTLS not offered');
    if (this.#tls) return this.#reply('503 5.5.1 TLS already active');
    if (arg !== '') return this.#reply('501 5.5.4 STARTTLS takes no parameters');
    await this.#reply('220 2.0.0 Ready to start TLS');
    this.#buffer = Buffer.alloc(0);
    const plain = this.#socket;
    plain.off('data', this.#onData);
    const secure = new TLSSocket(plain, { isServer: true, secureContext: createSecureContext(credentials) });
    secure.on('error', () => secure.destroy());
    await once(secure, 'secure', { signal: AbortSignal.timeout(TLS_HANDSHAKE_TIMEOUT_MS) });
    secure.on('data', this.#onData);
    this.#socket = secure;
    this.#tls = true;
    this.#helo = '';
    this.#tx = undefined;
  }

  async #reply(text: string): Promise<void> {
    const ms = this.#host.script().replyDelayMs ?? 0;
    if (ms > 0) await delay(ms);
    if (this.#mode === 'closed' || this.#socket.destroyed) return;
    this.#socket.write(`${text.split('\n').join('\r\n')}\r\n`);
  }

  #close(abrupt: boolean): void {
    this.#mode = 'closed';
    if (abrupt) this.#socket.destroy();
    else this.#socket.end();
  }
}
