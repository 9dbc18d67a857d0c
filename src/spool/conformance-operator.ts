/**
 * Conformance cases for what the HTTP API and live consumers need from a Spool:
 * `commit` and `update` resolve with the events they stored (`seq` filled in,
 * equal to what `eventsSince` returns), `attempts` lists stored attempts, and
 * `cancel` finalizes pending recipients with events and releases the body, and
 * `purge` drops old finished history while pending mail stays.
 * Registered by conformance.ts; test code only.
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import type { Attempt } from '../contracts/status.ts';
import { queueIdFloor } from '../runtime/ids.ts';
import {
  cancelledEvent,
  type MakeSpool,
  makeMessage,
  patternBytes,
  receivedEvent,
  rejectsWith,
  T0,
  withSpool,
} from './conformance-fixtures.ts';

const OK = { code: 250, enhanced: '2.0.0', text: 'Ok: queued as 4F2A' };

function attempt(n: number, outcome: Attempt['outcome']): Attempt {
  return {
    at: T0 + n,
    durationMs: 10 + n,
    mxHost: `mx${n}.example.test`,
    ip: '127.0.0.2',
    port: 25,
    tls: { protocol: 'TLSv1.3', cipher: 'TLS_AES_128_GCM_SHA256' },
    route: 'direct',
    outcome,
    reply: { code: outcome === 'delivered' ? 250 : 451, enhanced: '4.4.1', text: `reply ${n}` },
  };
}

export function registerOperatorCases(make: MakeSpool): void {
  it('commit and update resolve with the stored events, seq filled in', async () => {
    await withSpool(make, async (spool) => {
      const m = makeMessage({ to: ['a@x.test', 'b@x.test'] });
      const received = receivedEvent(m);
      const committed = await spool.commit(m, { events: [received] });
      assert.equal(committed.length, 1);
      assert.ok(committed[0]!.seq > 0);
      assert.deepEqual(committed[0], { ...received, seq: committed[0]!.seq });
      assert.deepEqual(await spool.commit(makeMessage()), [], 'no events given, none stored');
      const first = cancelledEvent(m.id, 'a@x.test', T0 + 1);
      const second = cancelledEvent(m.id, 'b@x.test', T0 + 2);
      const { events: updated } = await spool.update(
        [
          { messageId: m.id, index: 0, status: 'cancelled' },
          { messageId: m.id, index: 1, status: 'cancelled' },
        ],
        [first, second],
      );
      assert.deepEqual(
        updated.map((e) => (e.type === 'cancelled' ? e.recipient : e.type)),
        ['a@x.test', 'b@x.test'],
      );
      assert.ok(updated[0]!.seq > committed[0]!.seq && updated[1]!.seq > updated[0]!.seq);
      assert.deepEqual(await spool.eventsSince(0, 10), [...committed, ...updated]);
      assert.deepEqual(await spool.update([{ messageId: m.id, index: 0, status: 'delivered' }]), {
        events: [],
        finished: [],
      });
    });
  });

  it('attempts lists every stored attempt by recipient then number', async () => {
    await withSpool(make, async (spool) => {
      const m = makeMessage({ to: ['a@x.test', 'b@y.test', 'c@z.test'] });
      await spool.commit(m);
      assert.deepEqual(await spool.attempts(m.id), []);
      await spool.update([
        {
          messageId: m.id,
          index: 1,
          status: 'deferred',
          nextAttemptAt: T0 + 60_000,
          attempt: attempt(1, 'deferred'),
        },
        {
          messageId: m.id,
          index: 0,
          status: 'deferred',
          nextAttemptAt: T0 + 60_000,
          attempt: attempt(2, 'deferred'),
        },
      ]);
      await spool.update([
        { messageId: m.id, index: 1, status: 'delivered', attempt: attempt(3, 'delivered') },
      ]);
      // No attempt given: no row, and the count stays.
      await spool.update([{ messageId: m.id, index: 2, status: 'bounced' }]);
      const rows = await spool.attempts(m.id);
      assert.deepEqual(
        rows.map((r) => [r.index, r.n, r.attempt.mxHost]),
        [
          [0, 1, 'mx2.example.test'],
          [1, 1, 'mx1.example.test'],
          [1, 2, 'mx3.example.test'],
        ],
      );
      assert.deepEqual(rows[2]!.attempt, attempt(3, 'delivered'));
      const stored = await spool.getMessage(m.id);
      assert.deepEqual(
        stored?.recipients.map((r) => r.attempts),
        [1, 2, 0],
      );
      assert.deepEqual(await spool.attempts('01AAAAAAAAAAAAAAAAAAAAAAAA'), []);
    });
  });

  it('cancel finalizes pending recipients with events and releases the body', async () => {
    await withSpool(make, async (spool) => {
      const m = makeMessage({ to: ['a@x.test', 'b@y.test', 'c@z.test'], body: patternBytes(3000, 4) });
      const other = makeMessage({ to: ['o@x.test'] });
      // Read before commit: a backend may take the body's buffer.
      const otherSize = other.body.byteLength;
      await spool.commit(m);
      await spool.commit(other);
      await spool.update([
        { messageId: m.id, index: 0, status: 'delivered' },
        { messageId: m.id, index: 1, status: 'deferred', nextAttemptAt: T0 + 60_000 },
      ]);
      await spool.setHeld(m.id, true);
      const events = await spool.cancel(m.id);
      assert.deepEqual(
        events.map((e) => [e.type, e.messageId, e.type === 'cancelled' ? e.recipient : '']),
        [
          ['cancelled', m.id, 'b@y.test'],
          ['cancelled', m.id, 'c@z.test'],
        ],
      );
      assert.ok(events.every((e) => e.seq > 0 && Number.isFinite(e.at)));
      assert.deepEqual(await spool.eventsSince(0, 10), events);
      const stored = await spool.getMessage(m.id);
      assert.deepEqual(
        stored?.recipients.map((r) => r.status),
        ['delivered', 'cancelled', 'cancelled'],
      );
      assert.equal(stored?.hasBody, false);
      await rejectsWith(spool.readBody(m.id), 'NOT_FOUND');
      const stats = await spool.stats();
      assert.equal(stats.recipientsByStatus.cancelled, 2);
      assert.equal(stats.bodyBytes, otherSize);
      assert.deepEqual(await spool.cancel(m.id), [], 'nothing pending any more');
      assert.deepEqual(await spool.cancel('01AAAAAAAAAAAAAAAAAAAAAAAA'), []);
      // The other message is untouched and still claimable.
      const claimed = await spool.claimDue({ owner: 'n1', now: T0 + 1, limit: 10, leaseMs: 1000 });
      assert.deepEqual(
        claimed.map((c) => c.messageId),
        [other.id],
      );
    });
  });

  it('a cancel during a delivery in flight gives way to its arrival, and only to that', async () => {
    await withSpool(make, async (spool) => {
      const m = makeMessage({ to: ['a@x.test', 'b@x.test'] });
      const idle = makeMessage({ to: ['i@x.test'] });
      await spool.commit(m, { claimFor: { owner: 'n1', leaseMs: 60_000 } });
      await spool.commit(idle);
      const events = await spool.cancel(m.id);
      assert.deepEqual(
        events.map((e) => (e.type === 'cancelled' ? [e.recipient, e.inFlight] : [])),
        [
          ['a@x.test', true],
          ['b@x.test', true],
        ],
        'leased recipients are cancelled, marked in flight',
      );
      const [quiet] = await spool.cancel(idle.id);
      assert.equal(quiet?.type === 'cancelled' && quiet.inFlight, undefined, 'no lease, not in flight');
      const late = await spool.update([
        { messageId: m.id, index: 0, status: 'delivered', attempt: attempt(1, 'delivered'), lastReply: OK },
        { messageId: m.id, index: 1, status: 'bounced', attempt: attempt(2, 'failed') },
      ]);
      assert.deepEqual(late.finished, [], 'the cancel already finished the message');
      const stored = await spool.getMessage(m.id);
      assert.deepEqual(
        stored?.recipients.map((r) => [r.status, r.attempts]),
        [
          ['delivered', 1],
          ['cancelled', 1],
        ],
        'the server took a: it arrived; b stays cancelled, its attempt recorded',
      );
      assert.deepEqual(stored?.recipients[0]?.lastReply, OK);
      assert.equal(stored?.hasBody, false);
      const stats = await spool.stats();
      assert.equal(stats.recipientsByStatus.delivered, 1);
      assert.equal(stats.recipientsByStatus.cancelled, 2);
      assert.equal(stats.recipientsByStatus.bounced, 0);
      assert.equal(stats.bodyBytes, 0);
    });
  });

  it('purge drops finished messages and events older than the cutoff, never pending mail', async () => {
    await withSpool(make, async (spool) => {
      const DAY = 86_400_000;
      const oldDone = makeMessage({ receivedAt: T0, to: ['a@x.test', 'b@y.test'] });
      const oldPending = makeMessage({ receivedAt: T0 + 1, to: ['p@x.test', 'q@x.test'] });
      const newDone = makeMessage({ receivedAt: T0 + 10 * DAY, to: ['n@x.test'] });
      for (const m of [oldDone, oldPending, newDone]) await spool.commit(m, { events: [receivedEvent(m)] });
      await spool.update(
        [
          { messageId: oldDone.id, index: 0, status: 'delivered', attempt: attempt(1, 'delivered') },
          { messageId: oldDone.id, index: 1, status: 'bounced', attempt: attempt(2, 'failed') },
          // One of two final: the message is still pending as a whole.
          { messageId: oldPending.id, index: 0, status: 'delivered', attempt: attempt(3, 'delivered') },
          { messageId: newDone.id, index: 0, status: 'delivered', attempt: attempt(4, 'delivered') },
        ],
        [cancelledEvent(newDone.id, 'n@x.test', T0 + 10 * DAY)],
      );
      const before = await spool.stats();
      const events = await spool.eventsSince(0, 100);
      const cutoff = T0 + 5 * DAY;
      const result = await spool.purge({ before: cutoff, beforeId: queueIdFloor(cutoff), limit: 100 });
      assert.deepEqual(result, { messages: 1, events: 2, lastEventSeq: events[1]!.seq });
      assert.equal(await spool.getMessage(oldDone.id), undefined);
      assert.deepEqual(await spool.attempts(oldDone.id), []);
      assert.equal((await spool.getMessage(oldPending.id))?.recipients.length, 2);
      assert.ok(await spool.getMessage(newDone.id));
      assert.deepEqual(
        (await spool.eventsSince(0, 100)).map((e) => [e.type, e.messageId]),
        [
          ['received', newDone.id],
          ['cancelled', newDone.id],
        ],
      );
      const after = await spool.stats();
      assert.equal(after.messages, before.messages - 1);
      assert.equal(after.recipientsByStatus.delivered, before.recipientsByStatus.delivered - 1);
      assert.equal(after.recipientsByStatus.bounced, before.recipientsByStatus.bounced - 1);
      // Nothing more is due; a second call finds nothing.
      assert.deepEqual(await spool.purge({ before: cutoff, beforeId: queueIdFloor(cutoff), limit: 100 }), {
        messages: 0,
        events: 0,
      });
      // `limit` bounds the messages one call examines; old pending mail does not block
      // what follows it, the next call resumes from `scannedTo`.
      const more = [T0 + 2, T0 + 3].map((at) => makeMessage({ receivedAt: at, to: ['z@x.test'] }));
      for (const m of more) {
        await spool.commit(m);
        await spool.update([{ messageId: m.id, index: 0, status: 'delivered' }]);
      }
      const slice = { before: cutoff, beforeId: queueIdFloor(cutoff), limit: 1 };
      const first = await spool.purge(slice);
      assert.deepEqual(first, { messages: 0, events: 0, scannedTo: oldPending.id });
      const second = await spool.purge({ ...slice, afterId: first.scannedTo! });
      assert.deepEqual(second, { messages: 1, events: 0, scannedTo: more[0]!.id });
      const third = await spool.purge({ ...slice, afterId: second.scannedTo! });
      assert.deepEqual(third, { messages: 1, events: 0, scannedTo: more[1]!.id });
      assert.deepEqual(await spool.purge({ ...slice, afterId: third.scannedTo! }), {
        messages: 0,
        events: 0,
      });
      assert.ok(await spool.getMessage(oldPending.id));
      await rejectsWith(
        spool.purge({ before: cutoff, beforeId: queueIdFloor(cutoff), limit: 0 }),
        'SPOOL_IO',
      );
    });
  });

  it('purge keeps old events above keepEventsAfter (a webhook has yet to send them), up to dropHeldBefore', async () => {
    await withSpool(make, async (spool) => {
      const messages = [0, 1, 2].map((i) => makeMessage({ receivedAt: T0 + i }));
      const stored = [];
      for (const m of messages) stored.push(...(await spool.commit(m, { events: [receivedEvent(m)] })));
      const cutoff = T0 + 86_400_000;
      const request = { before: cutoff, beforeId: queueIdFloor(cutoff), limit: 100 };
      const kept = await spool.purge({ ...request, keepEventsAfter: stored[0]!.seq });
      assert.deepEqual(
        [kept.events, kept.lastEventSeq],
        [1, stored[0]!.seq],
        'only the event the webhook already sent goes',
      );
      assert.deepEqual(
        (await spool.eventsSince(0, 10)).map((e) => e.seq),
        [stored[1]!.seq, stored[2]!.seq],
      );
      // Held events stored before dropHeldBefore go all the same (the first of the two).
      const held = await spool.purge({ ...request, keepEventsAfter: stored[0]!.seq, dropHeldBefore: T0 + 2 });
      assert.deepEqual([held.events, held.lastEventSeq], [1, stored[1]!.seq]);
      assert.deepEqual(
        (await spool.eventsSince(0, 10)).map((e) => e.seq),
        [stored[2]!.seq],
      );
      assert.equal((await spool.purge(request)).events, 1, 'without a floor the rest goes too');
      assert.equal((await spool.purge(request)).lastEventSeq, undefined, 'none deleted, none named');
    });
  });
}
