/**
 * Faults on the far side, end to end against a real in-process mxpress:
 *
 *  - a DNS outage (the in-process DNS server is closed mid-run): new mail is
 *    deferred with 4.4.3 and never bounced; once a DNS server answers again on the
 *    same port, the deferred mail is delivered at the next retry;
 *  - bad MX hosts (hangs up after the final dot, stalls mid-DATA, answers slower
 *    than our client timeouts): each message is deferred, none bounced, while mail
 *    to a healthy domain is delivered in the meantime; when the hosts recover the
 *    deferred mail arrives (nothing acknowledged is lost).
 *
 * Loopback only: DNS on 127.0.0.1, sinks on 127.0.0.2 and 127.0.0.21..23.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { DEFAULT_SHAPING_RULE } from '../../src/config/defaults.ts';
import type { Config } from '../../src/config/types.ts';
import type { LifecycleEvent } from '../../src/contracts/events.ts';
import { type DnsServer, startDnsServer, type Zone } from '../harness/dns-server.ts';
import { startTestServer, type TestServer } from '../harness/mxpress.ts';
import { rawSession } from '../harness/raw-session.ts';
import { type SmtpSink, startSmtpSink } from '../harness/smtp-sink.ts';

function zone(): Zone {
  const z: Zone = {};
  const mx = (domain: string, ip: string): void => {
    z[domain] = { mx: [{ preference: 10, exchange: `mx.${domain}` }] };
    z[`mx.${domain}`] = { a: [ip] };
  };
  for (let i = 1; i <= 6; i++) mx(`ok${i}.test`, '127.0.0.2');
  mx('drop.test', '127.0.0.21');
  mx('stall.test', '127.0.0.22');
  mx('slow.test', '127.0.0.23');
  return z;
}

/** Events seen by one running server, with a waiter that times out. */
function eventLog(server: TestServer): {
  events: LifecycleEvent[];
  wait(predicate: (e: LifecycleEvent) => boolean, timeoutMs?: number): Promise<LifecycleEvent>;
} {
  const events: LifecycleEvent[] = [];
  const waiters = new Set<() => void>();
  server.running.events.subscribe((e) => {
    events.push(e);
    for (const w of [...waiters]) w();
  });
  return {
    events,
    wait: (predicate, timeoutMs = 15_000) =>
      new Promise((resolve, reject) => {
        const check = (): boolean => {
          const hit = events.find(predicate);
          if (!hit) return false;
          waiters.delete(onEvent);
          clearTimeout(timer);
          resolve(hit);
          return true;
        };
        const onEvent = (): void => {
          check();
        };
        const timer = setTimeout(() => {
          waiters.delete(onEvent);
          reject(
            new Error(
              `no matching event within ${timeoutMs} ms; saw ${events.map((e) => `${e.type}:${e.messageId.slice(-4)}`).join(' ')}`,
            ),
          );
        }, timeoutMs);
        if (!check()) waiters.add(onEvent);
      }),
  };
}

async function submit(port: number, to: string, marker: string): Promise<string> {
  const s = await rawSession(port);
  try {
    await s.expect(220);
    await s.command('EHLO app.example', 250);
    await s.command('MAIL FROM:<app@example.net>', 250);
    await s.command(`RCPT TO:<${to}>`, 250);
    await s.command('DATA', 354);
    s.send(`Subject: ${marker}\r\n\r\n${marker}\r\n.\r\n`);
    const lines = await s.expect(250);
    const id = /queued as ([0-9A-Z]{26})/.exec(lines[0] ?? '')?.[1];
    assert.ok(id, `no queue id in ${lines[0]}`);
    return id;
  } finally {
    s.close();
  }
}

const is = (type: LifecycleEvent['type'], id: string) => (e: LifecycleEvent) =>
  e.type === type && e.messageId === id;

const withShortTimeouts = (c: Config): Config => ({
  ...c,
  dns: { ...c.dns, timeoutMs: 400 },
  delivery: {
    ...c.delivery,
    // Sites rest 1 s (not 30 s) after a failure, so retries come within the test's time.
    shaping: [{ match: '*', ...DEFAULT_SHAPING_RULE, pauseAfterFailureMs: 1000 }],
    timeouts: {
      connectMs: 1000,
      greetingMs: 1000,
      ehloMs: 1000,
      mailMs: 1000,
      rcptMs: 1000,
      dataInitMs: 1000,
      dataBlockMs: 1000,
      dataTermMs: 1000,
    },
  },
});

describe('DNS outage', () => {
  let dns: DnsServer;
  let sink: SmtpSink;
  let server: TestServer;
  before(async () => {
    dns = await startDnsServer({ zone: zone() });
    sink = await startSmtpSink({ host: '127.0.0.2', port: 0 });
    server = await startTestServer({
      argv: ['--dns-server', dns.address, '--mx-port', String(sink.port), '--retry-intervals', '700ms'],
      mutate: withShortTimeouts,
    });
  });
  after(async () => {
    await server.stop();
    await sink.close();
    await dns.close();
  });

  it('defers new mail with 4.4.3 while DNS is down and delivers it once DNS answers again', async (t) => {
    const log = eventLog(server);
    const before = await submit(server.port, 'a@ok1.test', 'before-outage');
    await log.wait(is('delivered', before));

    const dnsPort = dns.port;
    await dns.close();
    const during = await Promise.all(
      ['b@ok2.test', 'c@ok3.test', 'd@ok4.test'].map((to, i) => submit(server.port, to, `during-${i}`)),
    );
    for (const id of during) {
      const deferred = await log.wait(is('deferred', id));
      assert.equal(deferred.type, 'deferred');
      if (deferred.type === 'deferred') assert.equal(deferred.attempt.reply?.enhanced, '4.4.3');
    }
    // A second round of attempts while DNS is still down: still deferred, never bounced.
    const first = log.events.find(is('deferred', during[0] ?? ''));
    await log.wait((e) => e !== first && is('deferred', during[0] ?? '')(e));
    const outageDeferrals = log.events.filter((e) => e.type === 'deferred').length;

    dns = await startDnsServer({ zone: zone(), port: dnsPort });
    const restoredAt = Date.now();
    for (const id of during) await log.wait(is('delivered', id));
    const tookMs = Date.now() - restoredAt;
    for (const id of during)
      assert.ok(
        !log.events.some((e) => (e.type === 'bounced' || e.type === 'expired') && e.messageId === id),
      );
    for (const [i] of during.entries())
      assert.ok(
        sink.messages.some((m) => m.body.toString().includes(`during-${i}`)),
        `during-${i} never arrived`,
      );
    t.diagnostic(
      `deferrals during the outage: ${outageDeferrals}; all 3 delivered ${tookMs} ms after DNS came back`,
    );
  });
});

describe('bad MX hosts', () => {
  let dns: DnsServer;
  let good: SmtpSink;
  let drop: SmtpSink;
  let stall: SmtpSink;
  let slow: SmtpSink;
  let server: TestServer;
  before(async () => {
    dns = await startDnsServer({ zone: zone() });
    good = await startSmtpSink({ host: '127.0.0.2', port: 0 });
    const port = good.port;
    drop = await startSmtpSink({ host: '127.0.0.21', port, script: { hangupAfterDot: true } });
    stall = await startSmtpSink({ host: '127.0.0.22', port, script: { stallInData: true } });
    slow = await startSmtpSink({ host: '127.0.0.23', port, script: { replyDelayMs: 2500 } });
    server = await startTestServer({
      argv: ['--dns-server', dns.address, '--mx-port', String(port), '--retry-intervals', '1s'],
      mutate: withShortTimeouts,
    });
  });
  after(async () => {
    await server.stop();
    await Promise.all([good, drop, stall, slow].map((s) => s.close()));
    await dns.close();
  });

  it('defers mail to hosts that hang up, stall or crawl, while a healthy domain keeps flowing', async (t) => {
    const log = eventLog(server);
    const bad = {
      drop: await submit(server.port, 'x@drop.test', 'bad-drop'),
      stall: await submit(server.port, 'x@stall.test', 'bad-stall'),
      slow: await submit(server.port, 'x@slow.test', 'bad-slow'),
    };
    const healthyStart = Date.now();
    const healthy: string[] = [];
    for (let i = 0; i < 12; i++)
      healthy.push(await submit(server.port, `h${i}@ok${(i % 6) + 1}.test`, `healthy-${i}`));
    for (const id of healthy) await log.wait(is('delivered', id));
    const healthyMs = Date.now() - healthyStart;
    // The bad ones were still pending while the healthy mail went through.
    for (const [name, id] of Object.entries(bad)) {
      const stored = await server.running.spool.getMessage(id);
      assert.ok(stored, `${name}: message missing from the spool`);
      assert.notEqual(stored.recipients[0]?.status, 'delivered', `${name} was delivered`);
    }
    for (const [name, id] of Object.entries(bad)) {
      const deferred = await log.wait(is('deferred', id), 20_000);
      assert.equal(deferred.type, 'deferred', name);
    }
    for (const id of Object.values(bad))
      assert.ok(
        !log.events.some((e) => (e.type === 'bounced' || e.type === 'expired') && e.messageId === id),
      );
    const firstDeferrals = Object.fromEntries(
      Object.entries(bad).map(([name, id]) => {
        const d = log.events.find(is('deferred', id));
        return [
          name,
          d?.type === 'deferred'
            ? `${d.attempt.reply?.code ?? d.attempt.errorCode} (${d.classification?.category})`
            : '?',
        ];
      }),
    );
    // Told apart for the sender: a hang-up is not a timeout.
    assert.equal(firstDeferrals.drop, 'CLOSED (connection-reset)');
    assert.equal(firstDeferrals.stall, 'ETIMEDOUT (connection-timeout)');

    // The hosts recover: every deferred message arrives.
    for (const sink of [drop, stall, slow]) sink.setScript({});
    for (const id of Object.values(bad)) await log.wait(is('delivered', id), 20_000);
    for (const [name, sink] of [
      ['drop', drop],
      ['stall', stall],
      ['slow', slow],
    ] as const)
      assert.ok(
        sink.messages.some((m) => m.body.toString().includes(`bad-${name}`)),
        `${name} never arrived`,
      );
    const dropCopies = drop.messages.filter((m) => m.body.toString().includes('bad-drop')).length;
    t.diagnostic(`12 healthy messages delivered in ${healthyMs} ms while 3 bad ones were pending`);
    t.diagnostic(`first deferral replies/errors: ${JSON.stringify(firstDeferrals)}`);
    t.diagnostic(
      `copies at the hang-up host (a hang-up after the dot cannot be told from a loss): ${dropCopies}`,
    );
  });
});
