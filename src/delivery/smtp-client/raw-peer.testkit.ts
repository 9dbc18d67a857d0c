/**
 * TEST ONLY: a hand-driven SMTP server for client tests the scripted sink cannot express
 * (silence, injected bytes, malformed replies, odd reply codes), plus a throwaway
 * certificate made with the openssl CLI.
 *
 * In: a handler per accepted connection that reads lines and writes raw bytes. Out: the
 * server's port and what each connection received. Listens on 127.0.0.1 only. Every
 * read has a timeout; `close()` destroys all connections.
 */

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { promisify } from 'node:util';
import { SmtpClientError } from './errors.ts';

/** Awaits a promise that must reject with an SmtpClientError, and returns that error. */
export async function rejection(promise: Promise<unknown>): Promise<SmtpClientError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof SmtpClientError, `an SmtpClientError, got ${String(error)}`);
    return error;
  }
  assert.fail('expected a rejection');
}

export class RawPeer {
  #socket: net.Socket;
  #buffer = '';
  #waiter: (() => void) | undefined;
  #ended = false;
  /** Every data event's bytes, in order (after a TLS upgrade: the decrypted bytes). */
  readonly chunks: Buffer[] = [];
  /** Resolves when the client's side closed. */
  readonly closed: Promise<void>;

  constructor(socket: net.Socket) {
    this.#socket = socket;
    this.#listen(socket);
    this.closed = new Promise((resolve) => socket.once('close', () => resolve()));
  }

  write(text: string | Buffer): void {
    this.#socket.write(text);
  }

  /** Next CRLF-terminated line without the CRLF (latin1). Rejects on timeout or close. */
  async readLine(timeoutMs = 3000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const end = this.#buffer.indexOf('\r\n');
      if (end !== -1) {
        const line = this.#buffer.slice(0, end);
        this.#buffer = this.#buffer.slice(end + 2);
        return line;
      }
      await this.#more(deadline);
    }
  }

  /** Everything up to and including `marker` (latin1), e.g. the DATA stream up to "\r\n.\r\n". */
  async readUntil(marker: string, timeoutMs = 3000): Promise<Buffer> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const end = this.#buffer.indexOf(marker);
      if (end !== -1) {
        const text = this.#buffer.slice(0, end + marker.length);
        this.#buffer = this.#buffer.slice(end + marker.length);
        return Buffer.from(text, 'latin1');
      }
      await this.#more(deadline);
    }
  }

  /** Waits for more bytes (or the close); throws once the deadline passed or the peer closed. */
  async #more(deadline: number): Promise<void> {
    if (this.#ended) throw new Error('RawPeer: connection closed while reading');
    const left = deadline - Date.now();
    if (left <= 0) throw new Error('RawPeer: timed out while reading');
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, left);
      this.#waiter = () => {
        clearTimeout(timer);
        resolve();
      };
    });
    this.#waiter = undefined;
  }

  /** Reads the next line and checks it starts with `prefix` (case-insensitive). */
  async expect(prefix: string, timeoutMs?: number): Promise<string> {
    const line = await this.readLine(timeoutMs);
    if (!line.toUpperCase().startsWith(prefix.toUpperCase())) {
      throw new Error(`RawPeer: expected ${JSON.stringify(prefix)}, got ${JSON.stringify(line)}`);
    }
    return line;
  }

  /** For each [prefix, reply]: reads a line starting with prefix, answers with reply + CRLF. */
  async dialogue(steps: readonly (readonly [string, string])[]): Promise<void> {
    for (const [prefix, reply] of steps) {
      await this.expect(prefix);
      this.write(`${reply}\r\n`);
    }
  }

  /** Greeting, then answers EHLO with these keywords. */
  async greetAndEhlo(keywords: readonly string[]): Promise<void> {
    this.write('220 raw.test ESMTP\r\n');
    await this.expect('EHLO');
    const lines = ['raw.test', ...keywords];
    this.write(lines.map((k, i) => `250${i === lines.length - 1 ? ' ' : '-'}${k}\r\n`).join(''));
  }

  /** Server side of STARTTLS/implicit TLS: wraps the socket; later lines come decrypted. */
  async upgrade(key: string, cert: string, timeoutMs = 3000): Promise<void> {
    const raw = this.#socket;
    raw.removeAllListeners('data');
    this.#buffer = '';
    const secure = new tls.TLSSocket(raw, { isServer: true, key, cert });
    this.#socket = secure;
    this.#listen(secure);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('RawPeer: TLS handshake timed out')), timeoutMs);
      secure.once('secure', () => {
        clearTimeout(timer);
        resolve();
      });
      secure.once('error', (error) => {
        clearTimeout(timer);
        reject(error);
      });
      secure.once('close', () => {
        clearTimeout(timer);
        reject(new Error('RawPeer: closed during the TLS handshake'));
      });
    });
  }

  end(): void {
    this.#socket.end();
  }

  destroy(): void {
    this.#socket.destroy();
  }

  #listen(socket: net.Socket): void {
    socket.on('data', (chunk: Buffer) => {
      this.chunks.push(chunk);
      this.#buffer += chunk.toString('latin1');
      this.#waiter?.();
    });
    socket.on('error', () => {});
    socket.on('close', () => {
      this.#ended = true;
      this.#waiter?.();
    });
  }
}

export interface RawServer {
  readonly host: string;
  readonly port: number;
  readonly peers: RawPeer[];
  /** Errors thrown by handlers (tests assert this stays empty). */
  readonly handlerErrors: unknown[];
  close(): Promise<void>;
}

export async function startRawServer(
  handler: (peer: RawPeer) => Promise<void>,
  options: { host?: string; tls?: { key: string; cert: string } } = {},
): Promise<RawServer> {
  const host = options.host ?? '127.0.0.1';
  const peers: RawPeer[] = [];
  const handlerErrors: unknown[] = [];
  const sockets = new Set<net.Socket>();
  const onSocket = (socket: net.Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    const peer = new RawPeer(socket);
    peers.push(peer);
    handler(peer).catch((error: unknown) => {
      handlerErrors.push(error);
      peer.destroy();
    });
  };
  const server = options.tls
    ? tls.createServer({ key: options.tls.key, cert: options.tls.cert }, onSocket)
    : net.createServer(onSocket);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => resolve());
  });
  const address = server.address() as net.AddressInfo;
  return {
    host,
    port: address.port,
    peers,
    handlerErrors,
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A loopback port nothing listens on (bound, then released). */
export async function unusedPort(host = '127.0.0.1'): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, host, () => resolve()));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Self-signed P-256 certificate for `name`, made by the openssl CLI; undefined if it is missing. */
export async function makeCertificate(name: string): Promise<{ key: string; cert: string } | undefined> {
  const dir = await mkdtemp(join(tmpdir(), 'mxpress-client-tls-'));
  try {
    await promisify(execFile)(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-days',
        '1',
        '-subj',
        `/CN=${name}`,
        '-addext',
        `subjectAltName=DNS:${name}`,
        '-keyout',
        join(dir, 'key.pem'),
        '-out',
        join(dir, 'cert.pem'),
      ],
      { timeout: 10_000 },
    );
    return {
      key: await readFile(join(dir, 'key.pem'), 'utf8'),
      cert: await readFile(join(dir, 'cert.pem'), 'utf8'),
    };
  } catch {
    return undefined;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
