/**
 * How a destination spreads jobs over connections: one per waiting job up to
 * maxConnections; past that, a busy connection carries the next waiting job with its
 * final dot, and a job that arrives while a message is being sent rides with that
 * message's final dot when its transaction can be had at once (`loadTransactionNow`).
 * Real sockets: a scriptable sink on loopback that answers slowly, so jobs arrive
 * while earlier ones are on the wire.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { settled } from '../../test/harness/eventually.ts';
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

  const mailCommands = () => sink.transcript().filter((line) => line.startsWith('MAIL FROM:')).length;

  function destination(now: boolean, maxConnections = 1): { destination: Destination; plan: ConnectPlan } {
    const deps: DestinationDeps = {
      key: 'test',
      rule: { ...DEFAULT_SHAPING, maxConnections },
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

  it('opens a connection per waiting job up to maxConnections; past it, busy ones carry the rest', async () => {
    for (const [max, connections, chained] of [
      [16, 3, 0],
      [2, 2, 1],
    ] as const) {
      const { destination: d, plan } = destination(true, max);
      const outcomes = await Promise.all([1, 2, 3].map((n) => d.enqueue(job(n), plan)));
      assert.deepEqual(
        outcomes.map((o) => o[0]!.kind),
        ['delivered', 'delivered', 'delivered'],
      );
      assert.equal(d.counters.connections, connections, `maxConnections ${max}`);
      assert.equal(d.counters.chained, chained, `maxConnections ${max}`);
      await d.close();
    }
  });

  for (const now of [true, false]) {
    it(`a job arriving during a send ${now ? 'rides with its final dot' : 'waits for the connection'} (loadTransactionNow ${now ? 'given' : 'absent'})`, async () => {
      const { destination: d, plan } = destination(now);
      const mailsBefore = mailCommands();
      const first = d.enqueue(job(10), plan);
      // The second job comes once the first one's MAIL reached the sink: its send is under
      // way (the connection is open and the worker took no job beside it), and the sink
      // answers every line 25 ms late, so it stays on the wire while the second is queued.
      // A fixed wait instead raced the connection's set-up on a loaded machine: a job
      // queued before the first send starts is carried with it whatever the loader.
      await settled(() => mailCommands() > mailsBefore, true, { timeoutMs: 5000 });
      assert.ok(mailCommands() > mailsBefore, "the first job's MAIL reached the sink");
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
