/**
 * A real mxpress set up for the interoperability tests, and ways to read back what
 * it stored.
 *
 * `startInteropServer()` starts mxpress (test/harness/mxpress.ts) with no usable DNS
 * (so nothing is delivered; only acceptance is tested), one AUTH user, only
 * 127.0.0.1 trusted for relay (clients that must authenticate connect from
 * 127.0.0.2), and optionally a second, implicit-TLS listener. `ReceivedLog` records
 * `received` events as they are published (that happens before the 250 reply is
 * written, so once a client has exited its messages are there). `storedMessage()`
 * reads one message back and splits off the Received header mxpress prepends, so
 * tests can compare the rest with the client's bytes exactly. Failures throw.
 */
import assert from 'node:assert/strict';
import { hashPassword } from '../../../src/config/password.ts';
import type { SmtpLimits } from '../../../src/config/types.ts';
import type { ReceivedEvent } from '../../../src/contracts/events.ts';
import type { StoredMessage } from '../../../src/contracts/spool.ts';
import { startTestServer, type TestServer } from '../mxpress.ts';

export const USER = 'app';
export const PASSWORD = 's3cret pass';
/** Source address for clients that must authenticate to relay (loopback, so AUTH is offered). */
export const UNTRUSTED_SOURCE = '127.0.0.2';

export interface InteropServer {
  readonly server: TestServer;
  /** Port of the STARTTLS listener. */
  readonly port: number;
  /** Port of the implicit-TLS listener when one was asked for. */
  readonly implicitPort: number | undefined;
  readonly received: ReceivedLog;
  stop(): Promise<void>;
}

export interface InteropServerOptions {
  readonly implicitTls?: boolean;
  readonly limits?: Partial<SmtpLimits>;
}

export async function startInteropServer(options: InteropServerOptions = {}): Promise<InteropServer> {
  const passwordHash = await hashPassword(PASSWORD);
  const server = await startTestServer({
    argv: ['--dns-server', '127.0.0.1:9', '--trusted-network', '127.0.0.1/32'],
    mutate: (c) => {
      const first = c.smtp.listeners[0]!;
      const listeners = options.implicitTls
        ? [first, { ...first, name: '127.0.0.1:implicit', port: 0, tls: 'implicit' as const }]
        : [first];
      return {
        ...c,
        smtp: {
          ...c.smtp,
          listeners,
          users: [{ username: USER, passwordHash }],
          limits: { ...c.smtp.limits, ...options.limits },
        },
      };
    },
  });
  const received = new ReceivedLog(server);
  return {
    server,
    port: server.port,
    implicitPort: options.implicitTls ? server.running.listeners[1]?.port : undefined,
    received,
    stop: () => server.stop(),
  };
}

/** `received` events in publication order. */
export class ReceivedLog {
  readonly events: ReceivedEvent[] = [];
  #waiters: (() => void)[] = [];

  constructor(server: TestServer) {
    server.running.events.subscribe((event) => {
      if (event.type !== 'received') return;
      this.events.push(event);
      for (const wake of this.#waiters.splice(0)) wake();
    });
  }

  get count(): number {
    return this.events.length;
  }

  /** Resolves once at least `count` events were seen; rejects after `timeoutMs`. */
  async waitForCount(count: number, timeoutMs = 5000): Promise<ReceivedEvent[]> {
    const deadline = Date.now() + timeoutMs;
    while (this.events.length < count) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`saw ${this.events.length} received events, wanted ${count}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    return this.events;
  }
}

/** Every queue id in a transcript, in order ("queued as <ID>"). */
export function queueIds(transcript: string): string[] {
  return [...transcript.matchAll(/queued as ([0-9A-Z]{26})\b/g)].map((m) => m[1]!);
}

/** The one queue id in a transcript; fails the test when there is not exactly one. */
export function queueId(transcript: string): string {
  const ids = queueIds(transcript);
  assert.equal(ids.length, 1, `expected one queue id in:\n${transcript}`);
  return ids[0]!;
}

export interface StoredCopy {
  readonly message: StoredMessage;
  /** The whole stored body. */
  readonly body: Buffer;
  /** Our Received header field, folded lines included. */
  readonly trace: string;
  /** Everything after it: the client's bytes (plus Date/Message-ID if mxpress added them). */
  readonly rest: Buffer;
}

/** Reads a stored message and splits off the Received field mxpress put first. */
export async function storedMessage(server: InteropServer, id: string): Promise<StoredCopy> {
  const spool = server.server.running.spool;
  const message = await spool.getMessage(id);
  assert.ok(message, `message ${id} is not in the spool`);
  const body = Buffer.from(await spool.readBody(id));
  assert.ok(body.subarray(0, 10).equals(Buffer.from('Received: ')), 'body does not start with Received');
  let end = body.indexOf('\r\n');
  while (end >= 0 && (body[end + 2] === 0x09 || body[end + 2] === 0x20)) end = body.indexOf('\r\n', end + 2);
  assert.ok(end > 0, 'unterminated Received header');
  return {
    message,
    body,
    trace: body.subarray(0, end + 2).toString('latin1'),
    rest: body.subarray(end + 2),
  };
}

/** Asserts two byte strings are equal, showing them as text when they are not. */
export function assertSameBytes(actual: Buffer, expected: Buffer | string, what: string): void {
  const want = typeof expected === 'string' ? Buffer.from(expected, 'utf8') : expected;
  if (actual.equals(want)) return;
  assert.equal(JSON.stringify(actual.toString('utf8')), JSON.stringify(want.toString('utf8')), what);
  assert.fail(`${what}: bytes differ but decode to the same text`);
}
