/**
 * Search parts (search-parts.ts) in a real SQLite spool with parts of a few
 * recipients: new mail lands only in the newest part, a late id in the part whose
 * range holds it; search by recipient and by sender walks the parts and pages exactly
 * as a scan of the whole history would; the parts survive a reopen, a rolled-back
 * transaction and a migration from version 2; purging history drops the parts it
 * emptied; and each per-part query is an index search, never a scan.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { describe, it } from 'node:test';
import type { ListFilter, NewMessage } from '../../contracts/spool.ts';
import { newQueueId, queueIdFloor } from '../../runtime/ids.ts';
import { spoolConformance } from '../conformance.ts';
import { makeMessage, T0 } from '../conformance-fixtures.ts';
import { type OpenSpool, readDatabase, spoolFactory, withDir } from './dir.testkit.ts';
import { DATABASE_FILE } from './engine.ts';
import type { SqliteSpool } from './index.ts';
import { listQuery } from './read-ops.ts';
import { migrate } from './schema.ts';
import { SearchParts } from './search-parts.ts';

const DAY = 86_400_000;

// Every shared case again with parts of two recipients, so lists cross parts.
spoolConformance(
  'sqlite (search parts of 2 recipients)',
  spoolFactory({ inProcess: true, searchPartRecipients: 2 }),
);

function withParts(size: number, body: (dir: string, open: OpenSpool) => Promise<void>): Promise<void> {
  return withDir(body, { searchPartRecipients: size });
}

function partsTable(dir: string): { n: number; first_id: string }[] {
  return readDatabase(dir, (db) =>
    db.prepare('SELECT n, first_id FROM search_parts ORDER BY n').all(),
  ) as unknown as { n: number; first_id: string }[];
}

/** Part of each message, and whether each recipient row agrees with its message's. */
function partOf(dir: string): Map<string, number> {
  return readDatabase(dir, (db) => {
    const disagree = db
      .prepare(
        'SELECT count(*) AS n FROM recipients r JOIN messages m ON m.id = r.message_id WHERE r.part != m.part',
      )
      .get();
    assert.equal(disagree?.n, 0, 'every recipient row is in its message part');
    const rows = db.prepare('SELECT id, part FROM messages').all() as unknown as {
      id: string;
      part: number;
    }[];
    return new Map(rows.map((row) => [row.id, row.part]));
  });
}

/** Every page of `filter`, `limit` at a time, following the `before` cursor. */
async function allPages(
  spool: SqliteSpool,
  filter: Omit<ListFilter, 'limit'>,
  limit: number,
): Promise<string[]> {
  const seen: string[] = [];
  let before: string | undefined;
  for (;;) {
    const page = await spool.list({ ...filter, limit, ...(before === undefined ? {} : { before }) });
    assert.ok(page.length <= limit);
    seen.push(...page.map((m) => m.id));
    if (page.length < limit) return seen;
    before = page.at(-1)!.id;
  }
}

/**
 * After an attempt that was rolled back: the table holds parts 0 and 1, part 1 starting
 * at `id`, which holds that message, and a reopened spool finds it by `address`.
 */
async function assertPartOneStartsAt(
  dir: string,
  open: OpenSpool,
  id: string,
  address: string,
): Promise<void> {
  assert.deepEqual(
    partsTable(dir).map((p) => [p.n, p.first_id]),
    [
      [0, ''],
      [1, id],
    ],
  );
  assert.equal(partOf(dir).get(id), 1);
  const spool = await open();
  assert.deepEqual(
    (await spool.list({ limit: 10, recipient: address })).map((m) => m.id),
    [id],
  );
}

/** A small deterministic generator, so a failure can be replayed. */
function lcg(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state * 1_103_515_245 + 12_345) % 2 ** 31;
    return state / 2 ** 31;
  };
}

describe('sqlite spool search parts', () => {
  it('new mail fills the newest part; a late id goes to the part whose range holds it', async () => {
    await withParts(3, async (dir, open) => {
      const spool = await open();
      const messages = Array.from({ length: 10 }, (_, i) =>
        makeMessage({ id: newQueueId(T0 + i * 1000), to: [`r${i}@x.test`] }),
      );
      for (const m of messages) await spool.commit(m);
      // Between messages 1 and 2 in id order, committed last.
      const late = makeMessage({ id: newQueueId(T0 + 1500), to: ['late@x.test'] });
      await spool.commit(late);
      await spool.close();
      const parts = partOf(dir);
      assert.deepEqual(
        messages.map((m) => parts.get(m.id)),
        [0, 0, 0, 1, 1, 1, 2, 2, 2, 3],
      );
      assert.equal(parts.get(late.id), 0);
      assert.deepEqual(
        partsTable(dir).map((p) => p.first_id),
        ['', messages[3]!.id, messages[6]!.id, messages[9]!.id],
      );
    });
  });

  it('search by recipient and by sender pages as a scan of the whole history would, across a reopen', async () => {
    await withParts(4, async (dir, open) => {
      const random = lcg(7);
      const senders = ['a@s.test', 'b@s.test', 'c@s.test'];
      const addresses = ['p@one.test', 'q@one.test', 'r@two.test', 's@two.test', 't@three.test'];
      const messages: NewMessage[] = Array.from({ length: 60 }, (_, i) => {
        const to = addresses.filter(() => random() < 0.35);
        return makeMessage({
          id: newQueueId(T0 + i * 1000),
          from: senders[Math.floor(random() * senders.length)]!,
          to: to.length === 0 ? [addresses[i % addresses.length]!] : to,
        });
      });
      // Five at a time in shuffled order, as concurrent sessions commit, so some ids
      // arrive after a newer one started a part and land in the part below.
      let spool = await open();
      const committed: NewMessage[] = [];
      for (let i = 0; i < messages.length; i += 5) {
        const group = messages.slice(i, i + 5).sort(() => random() - 0.5);
        for (const m of group) {
          await spool.commit(m);
          committed.push(m);
        }
      }
      const expected = (keep: (m: NewMessage) => boolean) =>
        messages
          .filter(keep)
          .map((m) => m.id)
          .reverse();
      const check = async () => {
        for (const address of addresses) {
          const has = (m: NewMessage) => m.envelope.recipients.some((r) => r.address === address);
          assert.deepEqual(await allPages(spool, { recipient: address }, 5), expected(has), address);
          for (const sender of senders) {
            const both = (m: NewMessage) => has(m) && m.envelope.mailFrom === sender;
            assert.deepEqual(await allPages(spool, { recipient: address, sender }, 3), expected(both));
          }
        }
        for (const sender of senders) {
          const from = (m: NewMessage) => m.envelope.mailFrom === sender;
          assert.deepEqual(await allPages(spool, { sender }, 4), expected(from), sender);
          assert.deepEqual(await allPages(spool, { sender }, 100), expected(from), sender);
        }
      };
      await check();
      await spool.close();
      assert.ok(partsTable(dir).length >= 10, `${partsTable(dir).length} parts`);
      const parts = partOf(dir);
      assert.equal(parts.size, messages.length);
      // Some message was committed after one in a higher part, and so went to the part below.
      const late = committed.some((m, i) =>
        committed.slice(0, i).some((earlier) => parts.get(earlier.id)! > parts.get(m.id)!),
      );
      assert.ok(late, 'a late id landed below a part that had already started');
      spool = await open();
      await check();
    });
  });

  it('purging history drops the parts it emptied and keeps those with pending mail', async () => {
    await withParts(2, async (dir, open) => {
      const spool = await open();
      const old = Array.from({ length: 8 }, (_, i) =>
        makeMessage({ id: newQueueId(T0 + i), receivedAt: T0 + i, to: [`o${i}@x.test`] }),
      );
      for (const m of old) await spool.commit(m);
      // All delivered but message 3 (part 1), which stays deferred.
      await spool.update(
        old.map((m, i) =>
          i === 3
            ? { messageId: m.id, index: 0, status: 'deferred' as const, nextAttemptAt: T0 + 9 * DAY }
            : { messageId: m.id, index: 0, status: 'delivered' as const },
        ),
      );
      const cutoff = T0 + DAY;
      assert.equal(
        (await spool.purge({ before: cutoff, beforeId: queueIdFloor(cutoff), limit: 100 })).messages,
        7,
      );
      assert.deepEqual(
        (await spool.list({ limit: 10, recipient: 'o3@x.test' })).map((m) => m.id),
        [old[3]!.id],
      );
      const fresh = makeMessage({ id: newQueueId(T0 + 2 * DAY), to: ['o3@x.test'] });
      await spool.commit(fresh);
      assert.deepEqual(
        (await spool.list({ limit: 10, recipient: 'o3@x.test' })).map((m) => m.id),
        [fresh.id, old[3]!.id],
      );
      await spool.close();
      // Part 1 holds message 3; part 3, the newest before the purge, holds 6 and 7's range.
      assert.deepEqual(
        partsTable(dir).map((p) => p.n),
        [1, 3, 4],
      );
    });
  });

  it('a transaction rolled back after it started a part leaves none behind', async () => {
    await withParts(1, async (dir, open) => {
      const spool = await open();
      const first = makeMessage({ id: newQueueId(T0), to: ['a@x.test'] });
      await spool.commit(first);
      // One batch: the second starts part 1, the duplicate of the first fails the
      // batch's transaction, and the batch runs again request by request.
      const second = makeMessage({ id: newQueueId(T0 + 1000), to: ['b@x.test'] });
      const duplicate = makeMessage({ id: first.id, to: ['c@x.test'] });
      const [ok, failed] = await Promise.allSettled([spool.commit(second), spool.commit(duplicate)]);
      assert.equal(ok.status, 'fulfilled');
      assert.equal(failed.status, 'rejected');
      await spool.close();
      await assertPartOneStartsAt(dir, open, second.id, 'b@x.test');
    });
  });

  it('a commit that fails after it started a part, beside one that succeeds, leaves no part behind', async () => {
    await withParts(2, async (dir, open) => {
      const spool = await open({ maxDatabaseBytes: 256 * 1024 });
      for (const i of [0, 1])
        await spool.commit(makeMessage({ id: newQueueId(T0 + i), to: [`a${i}@x.test`] }));
      // One batch: the big one starts part 1 and then finds no room for its body;
      // the small one, with a later id, then starts part 1 itself.
      const big = makeMessage({
        id: newQueueId(T0 + 1000),
        to: ['big@x.test'],
        body: new Uint8Array(512 * 1024),
      });
      const small = makeMessage({ id: newQueueId(T0 + 2000), to: ['small@x.test'] });
      const [failed, ok] = await Promise.allSettled([spool.commit(big), spool.commit(small)]);
      assert.equal(failed.status, 'rejected');
      assert.equal(ok.status, 'fulfilled');
      await spool.close();
      await assertPartOneStartsAt(dir, open, small.id, 'small@x.test');
    });
  });

  it('a savepoint rolled back after it started a part: the part is forgotten', () => {
    const db = new DatabaseSync(':memory:');
    try {
      migrate(db);
      const parts = new SearchParts(db, 1);
      const store = (id: string): void => {
        const part = parts.place(id, 1);
        db.exec(`INSERT INTO messages (id, received_at, mail_from, envelope, origin, headers, tags, size, pending,
          has_body, part) VALUES ('${id}', 0, 's@x.test', '{}', '{}', '{}', '{}', 0, 1, 0, ${part})`);
        db.exec(`INSERT INTO recipients (message_id, idx, address, domain, status, next_attempt_at, due_at,
          updated_at, part) VALUES ('${id}', 0, 'r@x.test', 'x.test', 'queued', 0, 0, 0, ${part})`);
      };
      db.exec('BEGIN');
      store('A');
      const mark = parts.mark();
      db.exec('SAVEPOINT request');
      assert.equal(parts.place('B', 1), 1);
      db.exec('ROLLBACK TO request');
      parts.restore(mark);
      store('C');
      db.exec('COMMIT');
      parts.settle();
      assert.deepEqual(
        db
          .prepare('SELECT n, first_id FROM search_parts ORDER BY n')
          .all()
          .map((r) => [r.n, r.first_id]),
        [
          [0, ''],
          [1, 'C'],
        ],
      );
      assert.deepEqual(
        parts.newestFirst().map((p) => [p.n, p.firstId]),
        [
          [1, 'C'],
          [0, ''],
        ],
      );
    } finally {
      db.close();
    }
  });

  it('a version 2 spool migrates: its mail is found by search, new mail starts new parts', async () => {
    await withParts(1, async (dir, open) => {
      const db = new DatabaseSync(join(dir, DATABASE_FILE));
      migrate(db, 2);
      const oldId = newQueueId(T0);
      db.exec(`INSERT INTO messages (id, received_at, mail_from, envelope, origin, headers, tags, size, pending, has_body)
        VALUES ('${oldId}', ${T0}, 's@x.test', '{"mailFrom":"s@x.test","recipients":[{"address":"r@x.test"}]}',
          '{}', '{}', '{}', 0, 0, 0)`);
      db.exec(`INSERT INTO recipients (message_id, idx, address, domain, status, next_attempt_at, due_at, updated_at)
        VALUES ('${oldId}', 0, 'r@x.test', 'x.test', 'delivered', ${T0}, ${T0}, ${T0})`);
      db.close();
      const spool = await open();
      const next = [1, 2].map((i) =>
        makeMessage({ id: newQueueId(T0 + i * 1000), from: 's@x.test', to: ['r@x.test'] }),
      );
      for (const m of next) await spool.commit(m);
      const newestFirst = [next[1]!.id, next[0]!.id, oldId];
      assert.deepEqual(
        (await spool.list({ limit: 10, recipient: 'r@x.test' })).map((m) => m.id),
        newestFirst,
      );
      assert.deepEqual(
        (await spool.list({ limit: 10, sender: 's@x.test' })).map((m) => m.id),
        newestFirst,
      );
      await spool.close();
      const parts = partOf(dir);
      assert.deepEqual(
        [oldId, next[0]!.id, next[1]!.id].map((id) => parts.get(id)),
        [0, 1, 2],
      );
    });
  });

  it('each per-part list query is an index search, never a scan of messages', () => {
    const db = new DatabaseSync(':memory:');
    try {
      migrate(db);
      const filters: Omit<ListFilter, 'limit'>[] = [
        { sender: 's@x.test' },
        { sender: 's@x.test', before: 'Z' },
        { recipient: 'r@x.test' },
        { recipient: 'r@x.test', before: 'Z', status: 'queued' },
        { recipient: 'r@x.test', sender: 's@x.test' },
      ];
      for (const filter of filters) {
        const { sql, params, partSlots } = listQuery(filter);
        assert.ok(partSlots.length > 0);
        const plan = db
          .prepare(`EXPLAIN QUERY PLAN ${sql}`)
          .all(...params, 10)
          .map((row) => String(row.detail));
        const text = plan.join(' | ');
        assert.ok(!plan.some((d) => d.startsWith('SCAN')), text);
        assert.ok(!text.includes('TEMP B-TREE'), text);
        assert.ok(/USING (COVERING )?INDEX (messages_sender|recipients_address) \(part=\?/.test(text), text);
      }
    } finally {
      db.close();
    }
  });
});
