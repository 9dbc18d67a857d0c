/**
 * The benchmark's API readers against a real mxpress (the delivery lab: DNS,
 * sinks and server on loopback): stats, polling a message until delivered, and
 * the live event stream.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { type DeliveryLab, startDeliveryLab } from '../test/harness/delivery-lab.ts';
import { DeliveryProber, deliveredAt, getStats } from './api.ts';
import { DeliveredStream } from './event-stream.ts';

let lab: DeliveryLab;
let base: string;

before(async () => {
  lab = await startDeliveryLab();
  const http = lab.server.running.http;
  assert.ok(http);
  base = `http://127.0.0.1:${http.port}`;
});
after(() => lab.close());

test('stats count commits and deliveries; a delivered message is timed by polling', async () => {
  const before = await getStats(base);
  const wall = Date.now();
  const prober = new DeliveryProber(base, { intervalMs: 10 });
  const id = await lab.submit('a@app.test', ['b@d1.test']);
  prober.add(id, wall);
  const probe = await prober.finish(8000);
  assert.equal(probe.sampled, 1);
  assert.equal(probe.undelivered, 0);
  assert.equal(probe.latenciesMs.length, 1);
  const latency = probe.latenciesMs[0]!;
  assert.ok(latency >= 0 && latency < 8000, `latency ${latency}`);
  assert.ok(probe.requests >= 1);
  const at = await deliveredAt(base, id);
  assert.equal(typeof at, 'number');
  assert.equal(at, wall + latency);
  const after = await getStats(base);
  assert.ok(after.commitGroups.items > before.commitGroups.items);
  assert.ok(after.delivery.messagesSent >= before.delivery.messagesSent + 1);
  assert.ok(after.delivery.connectionsOpened >= 1);
  assert.ok(after.rssBytes > 0);
  assert.equal(await deliveredAt(base, '01ARZ3NDEKTSV4RRFFQ69G5FAV'), 'pending');
});

test('a permanently failed message counts as undelivered', async () => {
  const prober = new DeliveryProber(base, { intervalMs: 10 });
  prober.add(await lab.submit('a@app.test', ['x@hard.test']), Date.now());
  const probe = await prober.finish(8000);
  assert.deepEqual([probe.latenciesMs.length, probe.undelivered], [0, 1]);
});

test('the live stream times every followed message; a missing route means no stream', async (t) => {
  const stream = await DeliveredStream.open(base);
  if (stream === undefined) return t.skip('this mxpress has no live event stream');
  const ids: string[] = [];
  for (let i = 0; i < 3; i++) {
    const wall = Date.now();
    const id = await lab.submit('a@app.test', [`r${i}@d2.test`]);
    ids.push(id);
    stream.accepted(id, wall);
  }
  const result = await stream.finish(8000);
  assert.equal(result.sampled, 3);
  assert.equal(result.undelivered, 0);
  assert.equal(result.latenciesMs.length, 3);
  assert.ok(result.latenciesMs.every((ms) => ms >= 0 && ms < 8000));
  assert.ok(stream.events >= 3);
  assert.equal(await DeliveredStream.open(`${base}/no-such-prefix`), undefined);
});
