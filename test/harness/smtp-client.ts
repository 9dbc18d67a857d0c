/**
 * A tiny raw-socket SMTP client for server tests: send exact bytes, read whole
 * replies, check that the server hung up, upgrade with STARTTLS.
 *
 * `readReply` returns one complete (possibly multi-line) reply and rejects on a
 * timeout, on a closed connection, or on a line that is not `ddd`, `ddd-text` or
 * `ddd text` (or whose code differs from the first line's). Nothing is parsed
 * beyond that, so tests can see exactly what the server sent (`received()`).
 * Every wait has a timeout (default 5 s). Loopback test use only; certificates
 * are not verified.
 */
import { once } from 'node:events';
import { isIP, connect as netConnect, type Socket } from 'node:net';
import { type ConnectionOptions, connect as tlsConnect } from 'node:tls';

export interface RawReply {
  readonly code: number;
  /** Text after `ddd-` / `ddd `, one entry per line. */
  readonly lines: string[];
  /** The reply exactly as received, CRLFs included. */
  readonly raw: string;
}

export interface RawSmtp {
  send(bytes: string | Buffer): void;
  readReply(timeoutMs?: number): Promise<RawReply>;
  expectClosed(timeoutMs?: number): Promise<void>;
  /** Upgrades the socket with tls.connect (certificates not verified); call after the 220 to STARTTLS. */
  startTls(options?: ConnectionOptions): Promise<void>;
  /** Every byte received so far (after a TLS upgrade: the decrypted bytes), as UTF-8. */
  received(): string;
  close(): void;
}

const DEFAULT_TIMEOUT_MS = 5000;
const REPLY_LINE = /^(\d{3})(?:([ -])(.*))?$/;

class RawSmtpClient implements RawSmtp {
  readonly #host: string;
  #socket: Socket;
  #received: Buffer = Buffer.alloc(0);
  #cursor = 0;
  #closed = false;
  #wake: (() => void) | undefined;
  readonly #onData = (chunk: Buffer): void => {
    this.#received = Buffer.concat([this.#received, chunk]);
    this.#wake?.();
  };
  readonly #onClose = (): void => {
    this.#closed = true;
    this.#wake?.();
  };

  constructor(host: string, socket: Socket) {
    this.#host = host;
    this.#socket = socket;
    this.#attach(socket);
  }

  #attach(socket: Socket): void {
    socket.on('data', this.#onData);
    socket.on('close', this.#onClose);
    socket.on('error', () => socket.destroy());
  }

  /** Resolves on the next data or close, or when the deadline passes. */
  async #change(deadline: number): Promise<void> {
    const left = deadline - performance.now();
    if (left <= 0) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, left);
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
      this.#wake = done;
    });
    this.#wake = undefined;
  }

  send(bytes: string | Buffer): void {
    this.#socket.write(bytes);
  }

  /** A complete reply starting at the cursor, undefined if more bytes are needed. */
  #parse(): RawReply | undefined {
    const text = this.#received.subarray(this.#cursor).toString('utf8');
    const lines: string[] = [];
    let code: string | undefined;
    let offset = 0;
    for (;;) {
      const end = text.indexOf('\r\n', offset);
      if (end < 0) return undefined;
      const line = text.slice(offset, end);
      offset = end + 2;
      const match = REPLY_LINE.exec(line);
      if (match === null || (code !== undefined && match[1] !== code)) {
        throw new Error(`malformed reply line: ${JSON.stringify(line)}`);
      }
      code = match[1]!;
      lines.push(match[3] ?? '');
      if (match[2] !== '-') {
        const raw = text.slice(0, offset);
        this.#cursor += Buffer.byteLength(raw);
        return { code: Number(code), lines, raw };
      }
    }
  }

  async readReply(timeoutMs = DEFAULT_TIMEOUT_MS): Promise<RawReply> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const reply = this.#parse();
      if (reply !== undefined) return reply;
      if (this.#closed)
        throw new Error(`connection closed before a complete reply (have ${JSON.stringify(this.#rest())})`);
      if (performance.now() >= deadline) throw new Error(`no complete reply within ${timeoutMs} ms`);
      await this.#change(deadline);
    }
  }

  #rest(): string {
    return this.#received.subarray(this.#cursor).toString('utf8');
  }

  async expectClosed(timeoutMs = DEFAULT_TIMEOUT_MS): Promise<void> {
    const deadline = performance.now() + timeoutMs;
    while (!this.#closed) {
      if (performance.now() >= deadline) throw new Error(`connection still open after ${timeoutMs} ms`);
      await this.#change(deadline);
    }
  }

  async startTls(options: ConnectionOptions = {}): Promise<void> {
    const plain = this.#socket;
    plain.off('data', this.#onData);
    plain.off('close', this.#onClose);
    const secure = tlsConnect({
      socket: plain,
      rejectUnauthorized: false,
      ...(isIP(this.#host) === 0 ? { servername: this.#host } : {}),
      ...options,
    });
    this.#socket = secure;
    this.#attach(secure);
    try {
      await once(secure, 'secureConnect', { signal: AbortSignal.timeout(DEFAULT_TIMEOUT_MS) });
    } catch (error) {
      secure.destroy();
      throw error;
    }
  }

  received(): string {
    return this.#received.toString('utf8');
  }

  close(): void {
    this.#socket.destroy();
  }
}

export async function rawSmtp(host: string, port: number, timeoutMs = DEFAULT_TIMEOUT_MS): Promise<RawSmtp> {
  const socket = netConnect({ host, port });
  try {
    await once(socket, 'connect', { signal: AbortSignal.timeout(timeoutMs) });
  } catch (error) {
    socket.destroy();
    throw error;
  }
  return new RawSmtpClient(host, socket);
}
