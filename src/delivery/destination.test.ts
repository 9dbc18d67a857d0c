/**
 * How a destination spreads jobs over connections: a busy connection carries the
 * next waiting job with its final dot, so another connection opens only for jobs
 * beyond those; and a job that arrives while a message is being sent rides with that
 * message's final dot when its transaction can be had at once (`loadTransactionNow`).
 * Real sockets: a scriptable sink on loopback that answers slowly, so jobs arrive
 * while earlier ones are on the wire.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type SmtpSink, startSmtpSink } from '../../test/harness/smtp-sink.ts';
import { type ConnectPlan, Destination, type DestinationDeps } from './destination.ts';
import type { DeliveryJob } from './job.ts';
import { DEFAULT_SHAPING } from './router.ts';
import { type OutboundTransaction, openSmtpConnection } from './smtp-client/index.ts';

const BODY = Buffer.from('Subject: t\r\n\r\nhello\r\n');

function job(n: number): DeliveryJob {
  return {
    messageId: `M${n}`,
    receivedAt: Date.now(),
    mailFrom: 'app@example.net',
    size: BODY.length,
    bodyType: '7BIT',
    smtputf8: false,
    domain: 'dest.test',
    recipients: [{ index: 0, address: `r${n}@dest.test`, attempts: 0 }],
    messageRecipients: 1,
  };
}

function transaction(j: DeliveryJob): OutboundTransaction {
  return {
    mailFrom: j.mailFrom,
    recipients: j.recipients.map((r) => ({ address: r.address })),
    body: BODY,
    size: BODY.length,
    eightBit: false,
    smtputf8: false,
  };
}

describe('Destination', () => {
  let sink: SmtpSink;
  before(async () => {
    sink = await startSmtpSink({ script: { replyDelayMs: 25 } });
  });
  after(async () => {
    await sink.close();
  });

  function destination(now: boolean): { destination: Destination; plan: ConnectPlan } {
    const deps: DestinationDeps = {
      key: 'test',
      rule: DEFAULT_SHAPING,
      localHostname: 'mx.mxpress.test',
      timeouts: undefined,
      idleMs: 5_000,
      connect: openSmtpConnection,
      loadTransaction: async (j) => transaction(j),
      ...(now ? { loadTransactionNow: (j: DeliveryJob) => transaction(j) } : {}),
      now: Date.now,
      log: () => {},
    };
    const plan: ConnectPlan = {
      targets: [{ mxHost: 'mx.dest.test', addresses: [sink.host], port: sink.port }],
      tls: 'none',
      route: 'direct',
    };
    return { destination: new Destination(deps, plan), plan };
  }

  it('opens connections only for jobs the busy ones cannot carry', async () => {
    const { destination: d, plan } = destination(true);
    const outcomes = await Promise.all([1, 2, 3].map((n) => d.enqueue(job(n), plan)));
    assert.deepEqual(
      outcomes.map((o) => o[0]!.kind),
      ['delivered', 'delivered', 'delivered'],
    );
    // Job 1 opened a connection; job 2 was more than one busy connection could carry, so
    // it opened the second; job 3 rode with a final dot.
    assert.equal(d.counters.connections, 2);
    assert.equal(d.counters.chained, 1);
    await d.close();
  });

  for (const now of [true, false]) {
    it(`a job arriving during a send ${now ? 'rides with its final dot' : 'waits for the connection'} (loadTransactionNow ${now ? 'given' : 'absent'})`, async () => {
      const { destination: d, plan } = destination(now);
      const first = d.enqueue(job(10), plan);
      // The sink answers every line 25 ms late: the first send is on the wire for well over 60 ms.
      await new Promise((resolve) => setTimeout(resolve, 60));
      const second = d.enqueue(job(11), plan);
      const [a, b] = await Promise.all([first, second]);
      assert.equal(a[0]!.kind, 'delivered');
      assert.equal(b[0]!.kind, 'delivered');
      assert.equal(d.counters.connections, 1, 'one connection carried both');
      assert.equal(d.counters.chained, now ? 1 : 0);
      await d.close();
    });
  }
});
