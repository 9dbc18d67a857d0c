/**
 * The feedback services wired as the runtime wires them: a real EventBus, a real
 * in-process SQLite spool storing events, a real HTTP receiver on loopback. A hard
 * bounce must suppress the address, store and publish `suppression-added`, reach the
 * webhook in order, be counted by the metrics and written to the event log; after a
 * restart the list is still there and the webhook resumes where it stopped.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { FeedbackConfig } from '../config/types.ts';
import type { BouncedEvent, LifecycleEvent } from '../contracts/events.ts';
import { createSqliteSpool, type SqliteSpool } from '../spool/sqlite/index.ts';
import { EventBus } from './event-bus.ts';
import { type FeedbackServices, startFeedbackServices } from './feedback-services.ts';
import { refusalFor } from './suppression.ts';
import { Receiver, seqs } from './webhooks/receiver.testkit.ts';

let root: string;
let spool: SqliteSpool;
let receiver: Receiver;
let url: string;
const bus = new EventBus((error) => {
  throw error;
});

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'mxpress-feedback-services-'));
  spool = createSqliteSpool({ dataDir: join(root, 'spool'), inProcess: true });
  await spool.open();
  receiver = new Receiver();
  url = await receiver.listen();
});

after(async () => {
  await receiver?.close();
  await spool?.close();
  await rm(root, { recursive: true, force: true });
});

function config(): FeedbackConfig {
  return {
    webhooks: [{ url: `${url}/events`, secret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw' }],
    retentionMs: 0,
    webhookHoldMs: 0,
    suppression: { enabled: true, ttlMs: 7 * 86_400_000 },
    eventLog: { enabled: true, path: join(root, 'logs', 'events.log'), maxBytes: 1 << 20, keep: 2 },
    classification: [],
  };
}

async function record(events: readonly LifecycleEvent[]): Promise<void> {
  await spool.update([], events);
  bus.publish(events);
}

function start(): Promise<FeedbackServices> {
  return startFeedbackServices({
    config: config(),
    dataDir: root,
    eventsSince: (after, limit) => spool.eventsSince(after, limit),
    record,
    subscribe: (listener) => bus.subscribe(listener),
    stats: () => ({ inFlight: 0, connections: 0 }),
    log: () => {},
  });
}

const bounce: BouncedEvent = {
  type: 'bounced',
  seq: 0,
  at: Date.now(),
  messageId: '01JNQ8Z6B3K3V1W4Y5Z6A7B8C9',
  recipient: 'gone@example.com',
  reply: { code: 550, enhanced: '5.1.1', text: 'mailbox unavailable' },
  classification: { severity: 'hard', category: 'bad-mailbox' },
};

describe('startFeedbackServices', () => {
  it('turns a hard bounce into a suppression, an event, a webhook call, a metric and a log line', async () => {
    const services = await start();
    await record([bounce]);
    const got = await receiver.waitFor(2);
    assert.deepEqual(
      got.map((r) => JSON.parse(r.body).type),
      ['bounced', 'suppression-added'],
    );
    const [first, second] = seqs(got);
    assert.ok(first !== undefined && second === first + 1, 'stored in order by the spool');
    assert.equal(JSON.parse(got[1]!.body).data.address, 'gone@example.com');

    const entry = services.suppression.check('Gone@example.com');
    assert.ok(entry);
    assert.equal(refusalFor(entry).enhanced, '5.1.1');

    const metrics = await services.metrics.render();
    assert.match(metrics, /^mxpress_events_total\{type="bounced",category="bad-mailbox"\} 1$/m);
    assert.match(metrics, /^mxpress_events_total\{type="suppression-added",category=""\} 1$/m);
    assert.match(metrics, /^mxpress_suppressions 1$/m);

    // Stop only once the last call was answered: an aborted in-flight call is sent again after a restart.
    for (let i = 0; ; i++) {
      const [status] = await services.webhooks.status();
      if (status?.cursor === second) break;
      assert.ok(i < 500, 'webhook cursor reaches the last event');
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    await services.stop();
    const lines = (await readFile(join(root, 'logs', 'events.log'), 'utf8')).trimEnd().split('\n');
    assert.deepEqual(
      lines.map((l) => JSON.parse(l).type),
      ['bounced', 'suppression-added'],
    );
  });

  it('after a restart keeps the list and resumes the webhook after its cursor', async () => {
    const services = await start();
    try {
      assert.ok(services.suppression.check('gone@example.com'));
      await record([
        { ...bounce, recipient: 'soft@example.com', classification: { severity: 'soft', category: 'x' } },
      ]);
      const got = await receiver.waitFor(3);
      assert.equal(JSON.parse(got[2]!.body).data.recipient, 'soft@example.com');
      assert.equal(
        services.suppression.check('soft@example.com'),
        undefined,
        'soft bounces are not suppressed',
      );
      const [status] = await services.webhooks.status();
      assert.equal(status?.failures, 0);
    } finally {
      await services.stop();
    }
  });
});
