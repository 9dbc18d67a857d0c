/**
 * The conformance suite every Spool backend (and every test fake) must pass.
 *
 * In: a name and a factory returning a fresh, unopened spool on empty storage plus
 * its cleanup. Out: node:test `describe`/`it` cases registered for it: storage and
 * read-back here; claims, leases, updates, holds in conformance-queue.ts; listing
 * and events in conformance-list.ts; returned events, attempts and cancel in
 * conformance-operator.ts. Tests only use the `Spool` interface, so a
 * backend's internals never leak into the contract.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  bytes,
  cancelledEvent,
  type MakeSpool,
  makeMessage,
  patternBytes,
  receivedEvent,
  rejectsWith,
  T0,
  withSpool,
} from './conformance-fixtures.ts';
import { registerListCases } from './conformance-list.ts';
import { registerOperatorCases } from './conformance-operator.ts';
import { registerQueueCases } from './conformance-queue.ts';

function registerStorageCases(make: MakeSpool): void {
  it('commit then getMessage returns what was stored', async () => {
    await withSpool(make, async (spool) => {
      const message = makeMessage({
        from: 'Alice@origin.test',
        to: [
          {
            address: 'Bob@Example.TEST',
            notify: ['FAILURE', 'DELAY'],
            orcpt: { addrType: 'rfc822', address: 'b@x' },
          },
          { address: 'carol@example.test', notify: 'NEVER' },
        ],
        tags: { mode: 'direct' },
      });
      const size = message.body.byteLength;
      await spool.commit(message);
      const stored = await spool.getMessage(message.id);
      assert.ok(stored);
      assert.equal(stored.id, message.id);
      assert.equal(stored.receivedAt, message.receivedAt);
      assert.deepEqual(stored.envelope, message.envelope);
      assert.deepEqual(stored.origin, message.origin);
      assert.deepEqual(stored.headers, message.headers);
      assert.deepEqual(stored.tags, { mode: 'direct' });
      assert.equal(stored.size, size);
      assert.equal(stored.hasBody, true);
      assert.equal(stored.recipients.length, 2);
      const [bob, carol] = stored.recipients;
      assert.equal(bob?.messageId, message.id);
      assert.equal(bob?.index, 0);
      assert.equal(bob?.address, 'Bob@Example.TEST');
      assert.equal(bob?.domain, 'example.test');
      assert.deepEqual(bob?.notify, ['FAILURE', 'DELAY']);
      assert.deepEqual(bob?.orcpt, { addrType: 'rfc822', address: 'b@x' });
      assert.equal(bob?.status, 'queued');
      assert.equal(bob?.attempts, 0);
      assert.equal(bob?.nextAttemptAt, message.receivedAt);
      assert.equal(bob?.held, false);
      assert.equal(bob?.lastReply, undefined);
      assert.equal(carol?.index, 1);
      assert.equal(carol?.notify, 'NEVER');
      assert.equal(carol?.orcpt, undefined);
      assert.equal(await spool.getMessage('01AAAAAAAAAAAAAAAAAAAAAAAA'), undefined);
    });
  });

  it('stores body bytes exactly, whole buffers and views alike', async () => {
    await withSpool(make, async (spool) => {
      const all = new Uint8Array(256 * 4);
      for (let i = 0; i < all.length; i++) all[i] = i & 0xff;
      const large = patternBytes(3 * 1024 * 1024 + 7, 42);
      const backing = patternBytes(1000, 7);
      const view = backing.subarray(100, 900);
      const cases = [all, large, view, new Uint8Array(0), bytes('a\r\n.\r\n\0\r\n')];
      const expected = cases.map((body) => Uint8Array.from(body));
      const ids: string[] = [];
      for (const body of cases) {
        const message = makeMessage({ body });
        ids.push(message.id);
        await spool.commit(message);
      }
      for (const [i, id] of ids.entries()) {
        const stored = await spool.readBody(id);
        assert.equal(stored.byteLength, expected[i]!.byteLength, `body ${i} length`);
        assert.ok(Buffer.from(stored).equals(expected[i]!), `body ${i} bytes`);
        assert.equal((await spool.getMessage(id))?.size, expected[i]!.byteLength);
      }
      // A view into a larger buffer is copied, never taken: its backing stays intact.
      assert.ok(Buffer.from(backing).equals(patternBytes(1000, 7)));
    });
  });

  it('readBody of an unknown id rejects with NOT_FOUND', async () => {
    await withSpool(make, async (spool) => {
      await rejectsWith(spool.readBody('01AAAAAAAAAAAAAAAAAAAAAAAA'), 'NOT_FOUND');
    });
  });

  it('a message final at commit (all suppressed) keeps no body', async () => {
    await withSpool(make, async (spool) => {
      const message = makeMessage({
        to: ['a@x.test', 'b@x.test'],
        initialStatus: ['suppressed', 'suppressed'],
      });
      await spool.commit(message);
      const stored = await spool.getMessage(message.id);
      assert.equal(stored?.hasBody, false);
      assert.deepEqual(
        stored?.recipients.map((r) => r.status),
        ['suppressed', 'suppressed'],
      );
      await rejectsWith(spool.readBody(message.id), 'NOT_FOUND');
      const claimed = await spool.claimDue({ owner: 'n1', now: T0 + 1, limit: 10, leaseMs: 1000 });
      assert.equal(claimed.length, 0);
      const stats = await spool.stats();
      assert.equal(stats.recipientsByStatus.suppressed, 2);
      assert.equal(stats.bodyBytes, 0);
    });
  });

  it('a rejected commit stores nothing, not even its events', async () => {
    await withSpool(make, async (spool) => {
      const first = makeMessage();
      await spool.commit(first, { events: [receivedEvent(first)] });
      const duplicate = makeMessage({ id: first.id, to: ['other@x.test'] });
      await assert.rejects(
        spool.commit(duplicate, { events: [cancelledEvent(first.id, 'ghost@x.test', T0)] }),
      );
      const events = await spool.eventsSince(0, 100);
      assert.deepEqual(
        events.map((e) => e.type),
        ['received'],
      );
      const stored = await spool.getMessage(first.id);
      assert.deepEqual(
        stored?.recipients.map((r) => r.address),
        ['rcpt@example.test'],
      );
      assert.equal((await spool.stats()).messages, 1);
    });
  });

  it('rejects malformed calls with SPOOL_IO and stores nothing', async () => {
    await withSpool(make, async (spool) => {
      const bad = makeMessage({ to: ['a@x.test', 'b@x.test'], initialStatus: ['queued'] });
      await rejectsWith(spool.commit(bad), 'SPOOL_IO');
      assert.equal(await spool.getMessage(bad.id), undefined);
      await rejectsWith(spool.commit(makeMessage({ to: [] })), 'SPOOL_IO');
      const good = makeMessage();
      await spool.commit(good);
      await rejectsWith(spool.update([{ messageId: good.id, index: 0, status: 'deferred' }]), 'SPOOL_IO');
      await rejectsWith(spool.claimDue({ owner: 'n1', now: T0, limit: 0, leaseMs: 1000 }), 'SPOOL_IO');
      await rejectsWith(spool.list({ limit: 0 }), 'SPOOL_IO');
      assert.equal((await spool.getMessage(good.id))?.recipients[0]?.status, 'queued');
    });
  });

  it('stats counts messages, recipients by status and body bytes', async () => {
    await withSpool(make, async (spool) => {
      const empty = await spool.stats();
      assert.equal(empty.messages, 0);
      assert.equal(empty.bodyBytes, 0);
      assert.equal(empty.recipientsByStatus.queued, 0);
      const a = makeMessage({ to: ['a@x.test', 'b@y.test'], body: patternBytes(1000, 1) });
      const b = makeMessage({ to: ['c@x.test'], body: patternBytes(500, 2) });
      await spool.commit(a);
      await spool.commit(b);
      await spool.update([
        { messageId: a.id, index: 0, status: 'delivered' },
        { messageId: a.id, index: 1, status: 'deferred', nextAttemptAt: T0 + 60_000 },
        { messageId: b.id, index: 0, status: 'bounced' },
      ]);
      const stats = await spool.stats();
      assert.equal(stats.messages, 2);
      assert.deepEqual(stats.recipientsByStatus, {
        queued: 0,
        deferred: 1,
        delivered: 1,
        bounced: 1,
        expired: 0,
        suppressed: 0,
        cancelled: 0,
      });
      // b is all final: its body is gone; a still waits for one recipient.
      assert.equal(stats.bodyBytes, 1000);
    });
  });

  it('200 concurrent commits all resolve and are all stored', async () => {
    await withSpool(make, async (spool) => {
      const messages = Array.from({ length: 200 }, (_, i) =>
        makeMessage({ to: [`r${i}@c${i % 7}.test`], body: patternBytes(2048 + i, i + 1) }),
      );
      const expected = messages.map((m) => Uint8Array.from(m.body));
      await Promise.all(messages.map((m) => spool.commit(m, { events: [receivedEvent(m)] })));
      for (const [i, m] of messages.entries()) {
        const stored = await spool.getMessage(m.id);
        assert.equal(stored?.recipients[0]?.address, `r${i}@c${i % 7}.test`);
        assert.ok(Buffer.from(await spool.readBody(m.id)).equals(expected[i]!));
      }
      assert.equal((await spool.stats()).messages, 200);
      assert.equal((await spool.eventsSince(0, 1000)).length, 200);
    });
  });

  it('calls before open and after close reject with SPOOL_CLOSED', async () => {
    const { spool, cleanup } = await make();
    try {
      await rejectsWith(spool.stats(), 'SPOOL_CLOSED');
      await spool.open();
      const message = makeMessage();
      await spool.commit(message);
      await spool.close();
      await spool.close();
      await rejectsWith(spool.commit(makeMessage()), 'SPOOL_CLOSED');
      await rejectsWith(spool.getMessage(message.id), 'SPOOL_CLOSED');
      await rejectsWith(spool.readBody(message.id), 'SPOOL_CLOSED');
      await rejectsWith(spool.claimDue({ owner: 'n1', now: T0, limit: 1, leaseMs: 1 }), 'SPOOL_CLOSED');
      await rejectsWith(
        spool.update([{ messageId: message.id, index: 0, status: 'delivered' }]),
        'SPOOL_CLOSED',
      );
      await rejectsWith(spool.release('n1', []), 'SPOOL_CLOSED');
      await rejectsWith(spool.setHeld(message.id, true), 'SPOOL_CLOSED');
      await rejectsWith(spool.retryNow(message.id, T0), 'SPOOL_CLOSED');
      await rejectsWith(spool.list({ limit: 1 }), 'SPOOL_CLOSED');
      await rejectsWith(spool.eventsSince(0, 1), 'SPOOL_CLOSED');
      await rejectsWith(spool.stats(), 'SPOOL_CLOSED');
      await rejectsWith(spool.freeBytes(), 'SPOOL_CLOSED');
      await rejectsWith(spool.open(), 'SPOOL_CLOSED');
    } finally {
      await spool.close();
      await cleanup();
    }
  });

  it('close waits for calls already in flight', async () => {
    const { spool, cleanup } = await make();
    try {
      await spool.open();
      const messages = Array.from({ length: 50 }, () => makeMessage());
      const commits = messages.map((m) => spool.commit(m));
      const closed = spool.close();
      const outcomes = await Promise.allSettled(commits);
      await closed;
      assert.deepEqual(
        outcomes.map((o) => o.status),
        messages.map(() => 'fulfilled'),
      );
    } finally {
      await spool.close();
      await cleanup();
    }
  });

  it('freeBytes reports a positive byte count', async () => {
    await withSpool(make, async (spool) => {
      const free = await spool.freeBytes();
      assert.ok(Number.isFinite(free) && free > 0, `free=${free}`);
    });
  });
}

export function spoolConformance(name: string, make: MakeSpool): void {
  describe(`Spool conformance: ${name}`, () => {
    describe('storage', () => registerStorageCases(make));
    describe('queue', () => registerQueueCases(make));
    describe('listing and events', () => registerListCases(make));
    describe('operator actions and stored events', () => registerOperatorCases(make));
  });
}
