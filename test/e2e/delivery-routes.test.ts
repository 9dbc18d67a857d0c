/**
 * Relay routes (smarthost per domain, fallback after failed attempts, fallback on a
 * policy block of our host), per-destination shaping, DKIM signing at delivery, and
 * a SIGTERM-style drain that loses nothing — against real sinks and a real DNS server.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { dkimVerify } from 'mailauth/lib/dkim/verify.js';
import type { Config, RelayRoute, ShapingRule } from '../../src/config/types.ts';
import type { DeliveredEvent, LifecycleEvent } from '../../src/contracts/events.ts';
import { createResolver } from '../../src/delivery/dns/resolver.ts';
import { type DeliveryLab, labZone, startDeliveryLab } from '../harness/delivery-lab.ts';
import { type SmtpSink, startSmtpSink } from '../harness/smtp-sink.ts';

const delivered =
  (messageId: string, recipient?: string) =>
  (e: LifecycleEvent): e is DeliveredEvent =>
    e.type === 'delivered' &&
    e.messageId === messageId &&
    (recipient === undefined || e.recipient === recipient);

function route(partial: Partial<RelayRoute> & { name: string }): RelayRoute {
  return {
    host: 'relay.test',
    port: 0,
    tls: 'none',
    domains: [],
    fallbackAfterAttempts: 0,
    fallbackOnPolicyBlock: false,
    ...partial,
  };
}

function shaping(partial: Partial<ShapingRule> & { match: string }): ShapingRule {
  return {
    maxConnections: 16,
    messagesPerConnection: 100,
    messagesPerMinute: 0,
    pauseAfterFailureMs: 0,
    pauseAfterDeliveries: 0,
    pauseMs: 0,
    ...partial,
  };
}

describe('relay routes, shaping and DKIM', () => {
  let lab: DeliveryLab;
  let blocky: SmtpSink;
  let dkimPublicKey = '';

  before(async () => {
    const keyDir = mkdtempSync(join(tmpdir(), 'mxpress-dkim-'));
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    writeFileSync(join(keyDir, 'signed.key'), privateKey.export({ type: 'pkcs8', format: 'pem' }), {
      mode: 0o600,
    });
    dkimPublicKey = publicKey.export({ type: 'spki', format: 'der' }).toString('base64');
    let port = 0;
    lab = await startDeliveryLab({
      mutate: (c: Config): Config => {
        port = c.delivery.mxPort;
        return {
          ...c,
          delivery: {
            ...c.delivery,
            routes: [
              route({ name: 'smarthost', port, domains: ['routed.test', '*.routed.test'] }),
              route({ name: 'fallback', port, fallbackAfterAttempts: 1, fallbackOnPolicyBlock: true }),
            ],
            shaping: [
              shaping({ match: 'd2.test', maxConnections: 1, messagesPerConnection: 2 }),
              shaping({ match: 'd3.test', messagesPerMinute: 600 }),
              shaping({ match: 'mx:mx.d4.test', maxConnections: 1, pauseAfterDeliveries: 2, pauseMs: 600 }),
            ],
            dkim: [{ domain: 'signed.test', selector: 'mx1', privateKeyFile: join(keyDir, 'signed.key') }],
          },
        };
      },
    });
    assert.equal(port, lab.port);
    blocky = await startSmtpSink({
      host: '127.0.0.10',
      port: lab.port,
      script: { onMail: () => '554 5.7.1 Service unavailable; client host blocked using zen.spamhaus.org' },
    });
    lab.dns.setZone({
      ...labZone(),
      'blocky.test': { mx: [{ preference: 10, exchange: 'mx.blocky.test' }] },
      'mx.blocky.test': { a: ['127.0.0.10'] },
      'mx1._domainkey.signed.test': { txt: [`v=DKIM1; k=rsa; p=${dkimPublicKey}`.match(/.{1,255}/g)!] },
    });
  });
  after(async () => {
    await lab.close();
    await blocky.close();
  });

  it('sends a routed domain through its smarthost and records the route', async () => {
    const id = await lab.submit('sender@dump.test', ['x@routed.test', 'y@sub.routed.test']);
    // Two domains, two deliveries: wait for both before reading what was stored.
    const event = await lab.waitFor(delivered(id, 'x@routed.test'));
    await lab.waitFor(delivered(id, 'y@sub.routed.test'));
    assert.equal(event.attempt.route, 'relay:smarthost');
    assert.equal(event.attempt.ip, '127.0.0.8');
    const stored = await lab.server.running.spool.getMessage(id);
    assert.deepEqual(
      stored?.recipients.map((r) => r.route),
      ['relay:smarthost', 'relay:smarthost'],
    );
    assert.ok(lab.sinks.relay.messages.some((m) => m.body.includes(`id ${id}`)));
  });

  it('falls back to the relay after a failed direct attempt', async () => {
    const id = await lab.submit('sender@dump.test', ['u@down.test']);
    const deferred = await lab.waitForEvent((e) => e.type === 'deferred' && e.messageId === id);
    assert.equal(deferred.type === 'deferred' && deferred.attempt.route, 'direct');
    const event = await lab.waitFor(delivered(id), 10_000);
    assert.equal(event.attempt.route, 'relay:fallback');
  });

  it('switches to the fallback relay at once when a destination blocks our host', async () => {
    const id = await lab.submit('sender@dump.test', ['u@blocky.test']);
    const event = await lab.waitFor(delivered(id));
    assert.equal(event.attempt.route, 'relay:fallback');
    assert.ok(
      blocky.transcript().some((l) => l.startsWith('MAIL FROM:')),
      'the direct attempt was not made',
    );
  });

  it('caps messages per connection and connections per destination', async () => {
    const ids = await Promise.all(
      [0, 1, 2, 3, 4, 5].map((i) => lab.submit('sender@dump.test', [`s${i}@d2.test`])),
    );
    for (const id of ids) await lab.waitFor(delivered(id));
    const copies = lab.sinks.ok.messages.filter((m) => ids.some((id) => m.body.includes(`id ${id}`)));
    const perConnection = new Map<number, number>();
    for (const m of copies) perConnection.set(m.connectionId, (perConnection.get(m.connectionId) ?? 0) + 1);
    assert.equal(copies.length, 6);
    for (const n of perConnection.values()) assert.ok(n <= 2, `a connection carried ${n} messages`);
    // One connection at a time: their lifetimes never overlap.
    const spans = [...perConnection.keys()].map((cid) => {
      const times = copies.filter((m) => m.connectionId === cid).map((m) => m.receivedAt);
      return [Math.min(...times), Math.max(...times)] as const;
    });
    spans.sort((a, b) => a[0] - b[0]);
    for (let i = 1; i < spans.length; i++)
      assert.ok(spans[i]![0] >= spans[i - 1]![1], 'two connections were open at once');
  });

  it('spaces messages to respect messages per minute', async () => {
    const ids = await Promise.all([0, 1, 2, 3].map((i) => lab.submit('sender@dump.test', [`r${i}@d3.test`])));
    for (const id of ids) await lab.waitFor(delivered(id));
    const times = lab.sinks.ok.messages
      .filter((m) => ids.some((id) => m.body.includes(`id ${id}`)))
      .map((m) => m.receivedAt)
      .sort((a, b) => a - b);
    assert.ok(times[3]! - times[0]! >= 280, `4 messages at 600/min took only ${times[3]! - times[0]!} ms`);
  });

  it('rests after N consecutive deliveries to an MX pattern', async () => {
    const ids = await Promise.all([0, 1, 2, 3].map((i) => lab.submit('sender@dump.test', [`p${i}@d4.test`])));
    for (const id of ids) await lab.waitFor(delivered(id));
    const times = lab.sinks.ok.messages
      .filter((m) => ids.some((id) => m.body.includes(`id ${id}`)))
      .map((m) => m.receivedAt)
      .sort((a, b) => a - b);
    const gaps = times.slice(1).map((t, i) => t - times[i]!);
    assert.ok(Math.max(...gaps) >= 550, `no pause among gaps ${gaps.join(', ')}`);
  });

  it('signs with the sender domain key, and the signature verifies through DNS', async () => {
    const id = await lab.submit(
      'sender@signed.test',
      ['v@d1.test'],
      'From: sender@signed.test\r\nTo: v@d1.test\r\nSubject: signed\r\n\r\nsigned body\r\n',
    );
    await lab.waitFor(delivered(id));
    const got = lab.sinks.ok.messages.find((m) => m.body.includes(`id ${id}`));
    assert.ok(got);
    assert.match(got.body.toString(), /^DKIM-Signature: .*d=signed\.test/m);
    const resolver = createResolver({ servers: [lab.dns.address], timeoutMs: 2000 });
    const result = await dkimVerify(got.body, {
      resolver: async (name: string, type: string) => {
        const txt = type === 'TXT' ? await resolver.resolveTxt(name) : undefined;
        if (txt?.kind === 'ok') return txt.records.map((r) => [r]);
        throw Object.assign(new Error('not found'), { code: 'ENOTFOUND' });
      },
    });
    assert.equal(result.results[0]?.status?.result, 'pass');
  });
});
