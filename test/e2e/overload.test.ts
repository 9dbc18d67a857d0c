/**
 * Overload, end to end against a real in-process mxpress:
 *
 *  - slowloris: 5,000 connections that say nothing after the banner, from several
 *    127.0.0.x source addresses; a well-behaved client must still get its message
 *    accepted within a few seconds, and it must be delivered;
 *  - a flood of mail to one slow destination (every reply delayed) must not starve
 *    another domain: its messages are delivered while the slow queue still drains,
 *    and in the end every acknowledged message of the flood arrives.
 *
 * Loopback only. The slowloris test checks `ulimit -n` (through the number of
 * descriptors the process may open) and skips with the reason when it is too low.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { connect, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { DEFAULT_SHAPING_RULE } from '../../src/config/defaults.ts';
import type { LifecycleEvent } from '../../src/contracts/events.ts';
import { type DnsServer, startDnsServer, type Zone } from '../harness/dns-server.ts';
import { startTestServer, type TestServer } from '../harness/mxpress.ts';
import { rawSession } from '../harness/raw-session.ts';
import { type SmtpSink, startSmtpSink } from '../harness/smtp-sink.ts';

const IDLE_CONNECTIONS = 5000;
const SOURCES = ['127.0.0.41', '127.0.0.42', '127.0.0.43', '127.0.0.44', '127.0.0.45'];

function zone(): Zone {
  return {
    'fast.test': { mx: [{ preference: 10, exchange: 'mx.fast.test' }] },
    'mx.fast.test': { a: ['127.0.0.2'] },
    'slow.test': { mx: [{ preference: 10, exchange: 'mx.slow.test' }] },
    'mx.slow.test': { a: ['127.0.0.24'] },
  };
}

function openFilesLimit(): number {
  try {
    return Number(execFileSync('sh', ['-c', 'ulimit -n'], { encoding: 'utf8' }).trim()) || 0;
  } catch {
    return 0;
  }
}

/** Opens a connection and waits for the 220 banner (a 421 refusal rejects); resolves with the socket. */
function idleConnection(port: number, localAddress: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host: '127.0.0.1', localAddress });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error('no banner within 20 s'));
    }, 20_000);
    socket.once('data', (chunk: Buffer) => {
      clearTimeout(timer);
      if (chunk.toString('latin1').startsWith('220 ')) resolve(socket);
      else {
        socket.destroy();
        reject(new Error(`refused: ${chunk.toString('latin1').trim()}`));
      }
    });
    socket.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
  });
}

/** Sends `count` messages in one session; returns the queue ids. */
async function send(port: number, to: (n: number) => string, count: number, tag: string): Promise<string[]> {
  const s = await rawSession(port);
  const ids: string[] = [];
  try {
    await s.expect(220, 10_000);
    await s.command('EHLO app.example', 250);
    for (let n = 0; n < count; n++) {
      await s.command('MAIL FROM:<app@example.net>', 250);
      await s.command(`RCPT TO:<${to(n)}>`, 250);
      await s.command('DATA', 354);
      s.send(`Subject: ${tag}-${n}\r\n\r\n${tag}-${n}\r\n.\r\n`);
      const lines = await s.expect(250, 10_000);
      const id = /queued as ([0-9A-Z]{26})/.exec(lines[0] ?? '')?.[1];
      assert.ok(id, `no queue id in ${lines[0]}`);
      ids.push(id);
    }
    await s.command('QUIT', 221);
  } finally {
    s.close();
  }
  return ids;
}

/** Resolves when every id has a `delivered` event; rejects after `timeoutMs`. */
function allDelivered(server: TestServer, ids: readonly string[], timeoutMs: number): Promise<void> {
  const missing = new Set(ids);
  return new Promise((resolve, reject) => {
    const check = async (): Promise<void> => {
      for (const id of [...missing]) {
        const m = await server.running.spool.getMessage(id);
        if (m?.recipients.every((r) => r.status === 'delivered')) missing.delete(id);
      }
    };
    const timer = setTimeout(() => {
      unsubscribe();
      reject(new Error(`${missing.size} of ${ids.length} not delivered within ${timeoutMs} ms`));
    }, timeoutMs);
    const onEvent = (e: LifecycleEvent): void => {
      if (e.type === 'delivered') missing.delete(e.messageId);
      if (missing.size === 0) {
        clearTimeout(timer);
        unsubscribe();
        resolve();
      }
    };
    const unsubscribe = server.running.events.subscribe(onEvent);
    void check().then(() => {
      if (missing.size === 0) {
        clearTimeout(timer);
        unsubscribe();
        resolve();
      }
    });
  });
}

describe('overload', () => {
  let dns: DnsServer;
  let fast: SmtpSink;
  let slow: SmtpSink;
  let server: TestServer;
  before(async () => {
    dns = await startDnsServer({ zone: zone() });
    fast = await startSmtpSink({ host: '127.0.0.2', port: 0 });
    slow = await startSmtpSink({ host: '127.0.0.24', port: fast.port, script: { replyDelayMs: 100 } });
    server = await startTestServer({
      argv: ['--dns-server', dns.address, '--mx-port', String(fast.port), '--retry-intervals', '1s'],
      mutate: (c) => ({
        ...c,
        smtp: {
          ...c.smtp,
          // Several attackers on a few addresses: the per-client cap is raised so the
          // total, not the per-address cap, is what the idle connections press on, and
          // the total is set to exactly the number of idle connections: they fill it.
          limits: { ...c.smtp.limits, maxConnections: IDLE_CONNECTIONS, maxConnectionsPerClient: 1200 },
        },
        delivery: { ...c.delivery, shaping: [{ match: '*', ...DEFAULT_SHAPING_RULE, maxConnections: 8 }] },
      }),
    });
  });
  after(async () => {
    await server.stop();
    await Promise.all([fast.close(), slow.close()]);
    await dns.close();
  });

  it('accepts a well-behaved client while 5,000 idle connections fill maxConnections', async (t) => {
    const limit = openFilesLimit();
    if (limit < 2 * IDLE_CONNECTIONS + 500) {
      t.skip(`ulimit -n is ${limit}; this test needs ${2 * IDLE_CONNECTIONS + 500} descriptors`);
      return;
    }
    const sockets: Socket[] = [];
    try {
      const openedAt = Date.now();
      for (let i = 0; i < IDLE_CONNECTIONS; i += 100) {
        const batch = await Promise.all(
          Array.from({ length: Math.min(100, IDLE_CONNECTIONS - i) }, (_, k) =>
            idleConnection(server.port, SOURCES[(i + k) % SOURCES.length]!),
          ),
        );
        sockets.push(...batch);
      }
      const openMs = Date.now() - openedAt;
      let cut = 0;
      for (const s of sockets) s.once('close', () => cut++);
      // The idle connections have been idle for a while before the polite client comes.
      await new Promise((resolve) => setTimeout(resolve, 1500));

      const started = Date.now();
      const [id] = await send(server.port, () => 'user@fast.test', 1, 'polite');
      const acceptMs = Date.now() - started;
      assert.ok(id);
      assert.ok(acceptMs < 5000, `the well-behaved client waited ${acceptMs} ms`);
      await allDelivered(server, [id], 15_000);
      t.diagnostic(
        `${sockets.length} idle connections opened in ${openMs} ms; a polite client was accepted in ${acceptMs} ms and delivered; the server had closed ${cut} idle ones by then`,
      );
    } finally {
      for (const s of sockets) s.destroy();
    }
  });

  it('keeps delivering to a fast domain while a flood to a slow one drains', async (t) => {
    const floodCount = 80;
    const floodStart = Date.now();
    const flood = await send(server.port, (n) => `f${n}@slow.test`, floodCount, 'flood');
    const acceptedMs = Date.now() - floodStart;
    const fastStart = Date.now();
    const quick = await send(server.port, (n) => `q${n}@fast.test`, 5, 'quick');
    await allDelivered(server, quick, 15_000);
    const fastMs = Date.now() - fastStart;
    const slowArrivedThen = slow.messages.length;
    assert.ok(
      slowArrivedThen < floodCount,
      `the slow queue had already drained (${slowArrivedThen}); the test proves nothing`,
    );
    await allDelivered(server, flood, 90_000);
    const drainMs = Date.now() - floodStart;
    // With the slow site's 8 connections busy, later messages rode with earlier final dots.
    const http = server.running.http!;
    const stats = (await (await fetch(`http://${http.address}:${http.port}/api/v1/stats`)).json()) as {
      delivery: { messagesChained: number };
    };
    assert.ok(stats.delivery.messagesChained > 0, 'no message was chained onto a final dot');
    for (let n = 0; n < floodCount; n++)
      assert.ok(
        slow.messages.some((m) => m.body.toString().includes(`flood-${n}\r\n`)),
        `flood-${n} never arrived`,
      );
    t.diagnostic(
      `${floodCount} messages to the slow site accepted in ${acceptedMs} ms; 5 to the fast site delivered in ${fastMs} ms while ${slowArrivedThen}/${floodCount} slow ones had arrived; slow queue drained after ${drainMs} ms; ${stats.delivery.messagesChained} messages chained onto a previous final dot`,
    );
  });
  it('never sheds a session inside a transaction, even when it has been quiet longest', async (t) => {
    const small = await startTestServer({
      argv: ['--dns-server', dns.address, '--mx-port', String(fast.port)],
      mutate: (c) => ({ ...c, smtp: { ...c.smtp, limits: { ...c.smtp.limits, maxConnections: 10 } } }),
    });
    const sockets: Socket[] = [];
    try {
      // The oldest session is in a transaction (MAIL given), then quiet.
      const busy = await rawSession(small.port);
      await busy.expect(220);
      await busy.command('EHLO app.example', 250);
      await busy.command('MAIL FROM:<app@example.net>', 250);
      for (let i = 0; i < 9; i++) sockets.push(await idleConnection(small.port, SOURCES[0]!));
      await new Promise((resolve) => setTimeout(resolve, 1200));
      const [id] = await send(small.port, () => 'late@fast.test', 1, 'late');
      assert.ok(id, 'the newcomer was not admitted');
      // The quiet transaction survived and completes.
      await busy.command('RCPT TO:<kept@fast.test>', 250);
      await busy.command('DATA', 354);
      busy.send('Subject: kept\r\n\r\nkept\r\n.\r\n');
      await busy.expect(250);
      busy.close();
      const cut = sockets.filter((s) => s.readableEnded || s.destroyed).length;
      t.diagnostic(
        `full server (10): newcomer admitted, the transaction kept, idle sessions closed so far: ${cut}`,
      );
    } finally {
      for (const s of sockets) s.destroy();
      await small.stop();
    }
  });
});
