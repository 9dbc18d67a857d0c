/**
 * A raw SMTP conversation for server tests: connect (optionally from a chosen
 * loopback source address), send exact bytes, read whole replies, upgrade to TLS.
 */
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { LineReader } from './line-reader.ts';

export interface RawSession {
  send(text: string | Buffer): void;
  /** Reads one reply and checks its code; returns its lines. */
  expect(code: number, timeoutMs?: number): Promise<string[]>;
  /** Reads one reply (undefined when the server closed the connection). */
  reply(timeoutMs?: number): Promise<{ code: number; lines: string[] } | undefined>;
  /** Sends a command and checks the reply code. */
  command(line: string, code: number): Promise<string[]>;
  startTls(): Promise<void>;
  closed(timeoutMs?: number): Promise<boolean>;
  close(): void;
}

export async function rawSession(
  port: number,
  options: { host?: string; localAddress?: string } = {},
): Promise<RawSession> {
  const host = options.host ?? '127.0.0.1';
  let socket: Socket = connect({
    port,
    host,
    ...(options.localAddress ? { localAddress: options.localAddress } : {}),
  });
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  let reader = new LineReader(socket);
  const session: RawSession = {
    send(text) {
      socket.write(text);
    },
    async expect(code, timeoutMs) {
      const reply = await reader.reply(timeoutMs);
      assert.ok(reply, `connection closed; expected ${code}`);
      assert.equal(reply.code, code, reply.lines.join(' | '));
      return reply.lines;
    },
    reply: (timeoutMs) => reader.reply(timeoutMs),
    async command(line, code) {
      socket.write(`${line}\r\n`);
      return session.expect(code);
    },
    async startTls() {
      socket.removeAllListeners('data');
      const secure = tlsConnect({ socket, rejectUnauthorized: false, servername: 'mx.mxpress.test' });
      await new Promise<void>((resolve, reject) => {
        secure.once('secureConnect', resolve);
        secure.once('error', reject);
      });
      socket = secure;
      reader = new LineReader(secure);
    },
    async closed(timeoutMs = 3000) {
      const reply = await reader.line(timeoutMs).catch(() => 'timeout');
      return reply === undefined;
    },
    close() {
      socket.destroy();
    },
  };
  return session;
}
