/**
 * Conformance cases for reading a Spool back: `list` (newest first, filters,
 * exclusive `before` cursor) and the event log (`seq` assigned at store time,
 * strictly increasing, `eventsSince` exclusive and limited). Registered by
 * conformance.ts; test code only.
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import type { LifecycleEvent } from '../contracts/events.ts';
import type { NewMessage, Spool } from '../contracts/spool.ts';
import {
  cancelledEvent,
  type MakeSpool,
  makeMessage,
  receivedEvent,
  T0,
  withSpool,
} from './conformance-fixtures.ts';

/** Six messages a second apart, oldest first, with a spread of senders and recipients. */
async function seed(spool: Spool): Promise<NewMessage[]> {
  const specs = [
    { from: 'alice@a.test', to: ['x@one.test'] },
    { from: 'bob@b.test', to: ['y@two.test', 'x@one.test'] },
    { from: 'alice@a.test', to: ['z@three.test'] },
    { from: 'carol@c.test', to: ['x@one.test'] },
    { from: 'alice@a.test', to: ['y@two.test'] },
    { from: 'bob@b.test', to: ['w@four.test'] },
  ];
  const messages = specs.map((spec, i) => makeMessage({ ...spec, receivedAt: T0 + i * 1000 }));
  // Commit out of order: list order must come from the ids, not insertion order.
  for (const i of [3, 0, 5, 1, 4, 2]) await spool.commit(messages[i]!);
  return messages;
}

function ids(list: readonly { id: string }[]): string[] {
  return list.map((m) => m.id);
}

export function registerListCases(make: MakeSpool): void {
  it('list returns newest first and pages with an exclusive cursor', async () => {
    await withSpool(make, async (spool) => {
      const messages = await seed(spool);
      const newestFirst = ids(messages).reverse();
      assert.deepEqual(ids(await spool.list({ limit: 100 })), newestFirst);
      const seen: string[] = [];
      let before: string | undefined;
      for (let page = 0; page < 10; page++) {
        const rows = await spool.list({ limit: 4, ...(before === undefined ? {} : { before }) });
        if (rows.length === 0) break;
        assert.ok(rows.length <= 4);
        seen.push(...ids(rows));
        before = rows.at(-1)!.id;
      }
      assert.deepEqual(seen, newestFirst);
      const afterThird = await spool.list({ limit: 100, before: newestFirst[2]! });
      assert.deepEqual(ids(afterThird), newestFirst.slice(3));
      const page = await spool.list({ limit: 1 });
      assert.equal(page[0]?.recipients.length, 1, 'listed messages carry their recipients');
    });
  });

  it('list filters by sender, recipient, domain, status and time', async () => {
    await withSpool(make, async (spool) => {
      const m = await seed(spool);
      const pick = (...indexes: number[]) => indexes.map((i) => m[i]!.id);
      assert.deepEqual(ids(await spool.list({ limit: 100, sender: 'alice@a.test' })), pick(4, 2, 0));
      assert.deepEqual(ids(await spool.list({ limit: 100, sender: 'alice@A.TEST' })), pick(4, 2, 0));
      assert.deepEqual(ids(await spool.list({ limit: 100, recipient: 'x@one.test' })), pick(3, 1, 0));
      assert.deepEqual(ids(await spool.list({ limit: 2, recipient: 'x@one.test' })), pick(3, 1));
      assert.deepEqual(ids(await spool.list({ limit: 100, domain: 'TWO.test' })), pick(4, 1));
      await spool.update([
        { messageId: m[1]!.id, index: 0, status: 'bounced' },
        { messageId: m[4]!.id, index: 0, status: 'deferred', nextAttemptAt: T0 + 99_000 },
      ]);
      assert.deepEqual(ids(await spool.list({ limit: 100, status: 'bounced' })), pick(1));
      assert.deepEqual(ids(await spool.list({ limit: 100, status: 'deferred' })), pick(4));
      assert.deepEqual(ids(await spool.list({ limit: 100, status: 'queued' })), pick(5, 3, 2, 1, 0));
      // since is inclusive, until exclusive.
      assert.deepEqual(ids(await spool.list({ limit: 100, since: T0 + 2000, until: T0 + 4000 })), pick(3, 2));
      assert.deepEqual(
        ids(await spool.list({ limit: 100, sender: 'bob@b.test', status: 'queued', before: m[5]!.id })),
        pick(1),
      );
      assert.deepEqual(ids(await spool.list({ limit: 100, recipient: 'nobody@none.test' })), []);
    });
  });

  it('events get increasing seq numbers when stored, with commits and updates', async () => {
    await withSpool(make, async (spool) => {
      assert.deepEqual(await spool.eventsSince(0, 10), []);
      const a = makeMessage({ to: ['a@x.test'] });
      const b = makeMessage({ to: ['b@x.test'] });
      await spool.commit(a, { events: [receivedEvent(a)] });
      await spool.commit(b, { events: [receivedEvent(b)] });
      const cancelled = cancelledEvent(a.id, 'a@x.test', T0 + 5);
      await spool.update([{ messageId: a.id, index: 0, status: 'cancelled' }], [cancelled]);
      const events = await spool.eventsSince(0, 100);
      assert.deepEqual(
        events.map((e) => [e.type, e.messageId]),
        [
          ['received', a.id],
          ['received', b.id],
          ['cancelled', a.id],
        ],
      );
      for (let i = 0; i < events.length; i++) {
        assert.ok(events[i]!.seq > (i === 0 ? 0 : events[i - 1]!.seq), 'seq strictly increasing and > 0');
      }
      const expected: LifecycleEvent = { ...cancelled, seq: events[2]!.seq };
      assert.deepEqual(events[2], expected);
      assert.deepEqual(await spool.eventsSince(events[0]!.seq, 1), [events[1]]);
      assert.deepEqual(await spool.eventsSince(events[2]!.seq, 10), []);
    });
  });

  it('concurrent writers get distinct, ordered event seqs', async () => {
    await withSpool(make, async (spool) => {
      const messages = Array.from({ length: 40 }, () => makeMessage());
      await Promise.all(messages.map((m) => spool.commit(m, { events: [receivedEvent(m)] })));
      const events = await spool.eventsSince(0, 1000);
      assert.equal(events.length, 40);
      assert.equal(new Set(events.map((e) => e.seq)).size, 40);
      assert.deepEqual(events.map((e) => e.messageId).sort(), ids(messages).sort());
      const seqs = events.map((e) => e.seq);
      assert.deepEqual(
        seqs,
        [...seqs].sort((x, y) => x - y),
      );
    });
  });
}
