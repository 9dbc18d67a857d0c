/**
 * Conformance cases for the queue side of a Spool: claims and leases, domain
 * exclusion, updates (final states sticky, body released when all final),
 * release, hold and retry-now. Registered by conformance.ts; test code only.
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import type { Attempt } from '../contracts/status.ts';
import {
  cancelledEvent,
  type MakeSpool,
  makeMessage,
  patternBytes,
  rejectsWith,
  T0,
  withSpool,
} from './conformance-fixtures.ts';

const LEASE = 60_000;

function attempt(outcome: Attempt['outcome'], code: number): Attempt {
  return {
    at: T0 + 1,
    durationMs: 12,
    mxHost: 'mx.example.test',
    ip: '127.0.0.2',
    port: 25,
    route: 'direct',
    outcome,
    reply: { code, enhanced: code < 300 ? '2.0.0' : '4.2.1', text: 'remote says' },
  };
}

export function registerQueueCases(make: MakeSpool): void {
  it('claimDue returns due recipients oldest first and leases them', async () => {
    await withSpool(make, async (spool) => {
      const late = makeMessage({ receivedAt: T0 + 30, to: ['l@x.test'], body: patternBytes(77, 3) });
      const early = makeMessage({ receivedAt: T0 + 10, to: ['e1@x.test', 'e2@y.test'] });
      const future = makeMessage({ receivedAt: T0 + LEASE + 1000, to: ['f@x.test'] });
      for (const m of [late, early, future]) await spool.commit(m);
      const claimed = await spool.claimDue({ owner: 'n1', now: T0 + 100, limit: 10, leaseMs: LEASE });
      assert.equal(claimed.length, 3);
      // Equal due times may come in any order; the later one comes last.
      assert.deepEqual(
        claimed
          .slice(0, 2)
          .map((c) => c.address)
          .sort(),
        ['e1@x.test', 'e2@y.test'],
      );
      assert.equal(claimed[2]?.address, 'l@x.test');
      const last = claimed[2]!;
      assert.equal(last.messageId, late.id);
      assert.equal(last.receivedAt, T0 + 30);
      assert.equal(last.mailFrom, 'sender@origin.test');
      assert.equal(last.size, 77);
      assert.equal(last.domain, 'x.test');
      assert.equal(last.status, 'queued');
      // Leased: nobody gets them again until the lease runs out.
      assert.equal(
        (await spool.claimDue({ owner: 'n2', now: T0 + 200, limit: 10, leaseMs: LEASE })).length,
        0,
      );
      const again = await spool.claimDue({ owner: 'n2', now: T0 + 100 + LEASE, limit: 10, leaseMs: LEASE });
      assert.equal(again.length, 3);
      const withFuture = await spool.claimDue({
        owner: 'n3',
        now: T0 + LEASE + 1000,
        limit: 10,
        leaseMs: LEASE,
      });
      assert.deepEqual(
        withFuture.map((c) => c.address),
        ['f@x.test'],
      );
    });
  });

  it('claimDue honours limit and excludeDomains', async () => {
    await withSpool(make, async (spool) => {
      const m = makeMessage({
        to: ['a@slow.test', 'b@fast.test', 'c@SLOW.test', 'd@fast.test', 'e@other.test'],
      });
      await spool.commit(m);
      const firstTwo = await spool.claimDue({ owner: 'n1', now: T0, limit: 2, leaseMs: LEASE });
      assert.deepEqual(firstTwo.map((c) => c.index).sort(), [0, 1]);
      const rest = await spool.claimDue({
        owner: 'n1',
        now: T0,
        limit: 10,
        leaseMs: LEASE,
        excludeDomains: new Set(['slow.test']),
      });
      assert.deepEqual(rest.map((c) => c.address).sort(), ['d@fast.test', 'e@other.test']);
      const slow = await spool.claimDue({ owner: 'n1', now: T0, limit: 10, leaseMs: LEASE });
      assert.deepEqual(
        slow.map((c) => c.address),
        ['c@SLOW.test'],
      );
    });
  });

  it('commit with claimFor leases the new recipients at once', async () => {
    await withSpool(make, async (spool) => {
      const m = makeMessage({ receivedAt: Date.now(), to: ['a@x.test', 'b@x.test'] });
      await spool.commit(m, { claimFor: { owner: 'n1', leaseMs: LEASE } });
      const now = m.receivedAt + 1000;
      assert.equal((await spool.claimDue({ owner: 'n2', now, limit: 10, leaseMs: LEASE })).length, 0);
      await spool.release('n2', [{ messageId: m.id, index: 0 }]);
      assert.equal(
        (await spool.claimDue({ owner: 'n2', now, limit: 10, leaseMs: LEASE })).length,
        0,
        'release by a non-owner changes nothing',
      );
      await spool.release('n1', [{ messageId: m.id, index: 1 }]);
      const back = await spool.claimDue({ owner: 'n2', now, limit: 10, leaseMs: LEASE });
      assert.deepEqual(
        back.map((c) => c.index),
        [1],
      );
      const later = await spool.claimDue({ owner: 'n2', now: now + 2 * LEASE, limit: 10, leaseMs: LEASE });
      assert.equal(later.length, 2);
    });
  });

  it('update to deferred records the attempt, clears the lease and sets the next due time', async () => {
    await withSpool(make, async (spool) => {
      const m = makeMessage();
      await spool.commit(m);
      await spool.claimDue({ owner: 'n1', now: T0, limit: 1, leaseMs: LEASE });
      const reply = { code: 451, enhanced: '4.2.1', text: 'try later' };
      await spool.update([
        {
          messageId: m.id,
          index: 0,
          status: 'deferred',
          nextAttemptAt: T0 + 300,
          attempt: attempt('deferred', 451),
          lastReply: reply,
          route: 'direct',
        },
      ]);
      const r = (await spool.getMessage(m.id))?.recipients[0];
      assert.equal(r?.status, 'deferred');
      assert.equal(r?.attempts, 1);
      assert.equal(r?.nextAttemptAt, T0 + 300);
      assert.deepEqual(r?.lastReply, reply);
      assert.equal(r?.route, 'direct');
      assert.equal(
        (await spool.claimDue({ owner: 'n2', now: T0 + 299, limit: 1, leaseMs: LEASE })).length,
        0,
      );
      // The lease (until T0 + LEASE) was cleared by the update: due at T0 + 300.
      const again = await spool.claimDue({ owner: 'n2', now: T0 + 300, limit: 1, leaseMs: LEASE });
      assert.equal(again[0]?.attempts, 1);
      assert.equal(again[0]?.status, 'deferred');
    });
  });

  it('final statuses are sticky', async () => {
    await withSpool(make, async (spool) => {
      const m = makeMessage({ to: ['a@x.test', 'b@x.test'] });
      await spool.commit(m);
      await spool.update([
        {
          messageId: m.id,
          index: 0,
          status: 'delivered',
          attempt: attempt('delivered', 250),
          route: 'direct',
        },
        { messageId: m.id, index: 1, status: 'cancelled' },
      ]);
      await spool.update([
        { messageId: m.id, index: 0, status: 'deferred', nextAttemptAt: T0 + 1 },
        { messageId: m.id, index: 1, status: 'queued', nextAttemptAt: T0 + 1 },
      ]);
      await spool.update([{ messageId: m.id, index: 0, status: 'bounced' }]);
      const stored = await spool.getMessage(m.id);
      assert.deepEqual(
        stored?.recipients.map((r) => r.status),
        ['delivered', 'cancelled'],
      );
      assert.equal(stored?.recipients[0]?.lastReply, undefined);
      assert.equal(
        (await spool.claimDue({ owner: 'n1', now: T0 + 10, limit: 10, leaseMs: LEASE })).length,
        0,
      );
      const stats = await spool.stats();
      assert.equal(stats.recipientsByStatus.delivered, 1);
      assert.equal(stats.recipientsByStatus.cancelled, 1);
      assert.equal(stats.recipientsByStatus.deferred + stats.recipientsByStatus.queued, 0);
    });
  });

  it('the body is released once no recipient is pending', async () => {
    await withSpool(make, async (spool) => {
      const m = makeMessage({ to: ['a@x.test', 'b@y.test', 'c@z.test'], body: patternBytes(4096, 9) });
      await spool.commit(m);
      await spool.update([{ messageId: m.id, index: 0, status: 'delivered' }]);
      await spool.update([{ messageId: m.id, index: 1, status: 'deferred', nextAttemptAt: T0 + 5 }]);
      assert.equal((await spool.readBody(m.id)).byteLength, 4096);
      assert.equal((await spool.getMessage(m.id))?.hasBody, true);
      await spool.update([{ messageId: m.id, index: 1, status: 'expired' }]);
      assert.equal((await spool.readBody(m.id)).byteLength, 4096, 'c is still queued');
      await spool.update([{ messageId: m.id, index: 2, status: 'bounced' }]);
      await rejectsWith(spool.readBody(m.id), 'NOT_FOUND');
      const stored = await spool.getMessage(m.id);
      assert.equal(stored?.hasBody, false);
      assert.equal(stored?.size, 4096, 'the size is kept for listings');
      assert.equal((await spool.stats()).bodyBytes, 0);
    });
  });

  it('update names the messages it finished, exactly once, even when updates race', async () => {
    await withSpool(make, async (spool) => {
      const a = makeMessage({ to: ['a@x.test', 'b@y.test', 'c@z.test'] });
      const b = makeMessage({ to: ['d@x.test', 'e@x.test'] });
      await spool.commit(a);
      await spool.commit(b);
      const first = await spool.update([{ messageId: a.id, index: 0, status: 'delivered' }]);
      assert.deepEqual(first.finished, [], 'two recipients still pending');
      // The last two recipients of `a` settled by two concurrent updates (two jobs):
      const racing = await Promise.all([
        spool.update([{ messageId: a.id, index: 1, status: 'expired' }]),
        spool.update([{ messageId: a.id, index: 2, status: 'bounced' }]),
      ]);
      assert.deepEqual(
        racing.flatMap((r) => r.finished),
        [a.id],
        'exactly one of the racing updates finished the message',
      );
      const both = await spool.update([
        { messageId: b.id, index: 0, status: 'delivered' },
        { messageId: b.id, index: 1, status: 'bounced' },
      ]);
      assert.deepEqual(both.finished, [b.id], 'once per message, not per recipient');
      const late = await spool.update([{ messageId: b.id, index: 1, status: 'delivered' }]);
      assert.deepEqual(late.finished, [], 'a sticky final recipient finishes nothing again');
    });
  });

  it('update is atomic: one unknown recipient rejects all, events included', async () => {
    await withSpool(make, async (spool) => {
      const m = makeMessage();
      const size = m.body.byteLength;
      await spool.commit(m);
      await rejectsWith(
        spool.update(
          [
            { messageId: m.id, index: 0, status: 'delivered' },
            { messageId: m.id, index: 5, status: 'delivered' },
          ],
          [cancelledEvent(m.id, 'rcpt@example.test', T0)],
        ),
        'NOT_FOUND',
      );
      assert.equal((await spool.getMessage(m.id))?.recipients[0]?.status, 'queued');
      assert.equal((await spool.eventsSince(0, 10)).length, 0);
      assert.equal((await spool.readBody(m.id)).byteLength, size);
    });
  });

  it('hold keeps recipients from being claimed until released', async () => {
    await withSpool(make, async (spool) => {
      const m = makeMessage({ to: ['a@x.test', 'b@x.test', 'c@x.test'] });
      const other = makeMessage({ to: ['o@x.test'] });
      await spool.commit(m);
      await spool.commit(other);
      await spool.update([{ messageId: m.id, index: 2, status: 'delivered' }]);
      assert.equal(await spool.setHeld(m.id, true), 2, 'only pending recipients are held');
      assert.equal(await spool.setHeld(m.id, true), 0, 'already held');
      const stored = await spool.getMessage(m.id);
      assert.deepEqual(
        stored?.recipients.map((r) => r.held),
        [true, true, false],
      );
      const claimed = await spool.claimDue({ owner: 'n1', now: T0, limit: 10, leaseMs: LEASE });
      assert.deepEqual(
        claimed.map((c) => c.messageId),
        [other.id],
      );
      assert.equal(await spool.retryNow(m.id, T0), 0, 'retryNow leaves held recipients alone');
      assert.equal(await spool.setHeld(m.id, false), 2);
      const released = await spool.claimDue({ owner: 'n1', now: T0, limit: 10, leaseMs: LEASE });
      assert.deepEqual(released.map((c) => c.index).sort(), [0, 1]);
    });
  });

  it('retryNow makes deferred recipients due now', async () => {
    await withSpool(make, async (spool) => {
      const m = makeMessage({ to: ['a@x.test', 'b@x.test'] });
      await spool.commit(m);
      await spool.update([
        { messageId: m.id, index: 0, status: 'deferred', nextAttemptAt: T0 + 3_600_000 },
        { messageId: m.id, index: 1, status: 'bounced' },
      ]);
      assert.equal(
        (await spool.claimDue({ owner: 'n1', now: T0 + 10, limit: 10, leaseMs: LEASE })).length,
        0,
      );
      assert.equal(await spool.retryNow(m.id, T0 + 10), 1);
      assert.equal((await spool.getMessage(m.id))?.recipients[0]?.nextAttemptAt, T0 + 10);
      const claimed = await spool.claimDue({ owner: 'n1', now: T0 + 10, limit: 10, leaseMs: LEASE });
      assert.deepEqual(
        claimed.map((c) => c.index),
        [0],
      );
      assert.equal(await spool.retryNow('01AAAAAAAAAAAAAAAAAAAAAAAA', T0), 0);
    });
  });
}
