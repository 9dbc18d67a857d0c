/**
 * Tests for the SQLite spool: the shared conformance suite in worker and
 * in-process modes, then what only this backend promises (durability across
 * reopen, leases released at open, group commit, exclusive data dir, size cap,
 * schema and the claim index, body transfer to the worker).
 */
import assert from 'node:assert/strict';
import { existsSync, statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { describe, it } from 'node:test';
import { queueIdFloor } from '../../runtime/ids.ts';
import { spoolConformance } from '../conformance.ts';
import { makeMessage, patternBytes, receivedEvent, rejectsWith, T0 } from '../conformance-fixtures.ts';
import { readDatabase, spoolFactory, withDir } from './dir.testkit.ts';
import { DATABASE_FILE } from './engine.ts';
import { createSqliteSpool, type SqliteSpool } from './index.ts';
import { migrate, SCHEMA_VERSION } from './schema.ts';
import { claimSql } from './write-ops.ts';

spoolConformance('sqlite (worker thread)', spoolFactory({ inProcess: false }));
spoolConformance('sqlite (in-process)', spoolFactory({ inProcess: true }));

describe('sqlite spool specifics', () => {
  for (const inProcess of [false, true]) {
    const mode = inProcess ? 'in-process' : 'worker';
    it(`${mode}: committed messages survive close and reopen; open frees all leases`, async () => {
      await withDir(async (_dir, open) => {
        const first = await open({ inProcess });
        const messages = Array.from({ length: 20 }, (_, i) =>
          makeMessage({ body: patternBytes(5000, i + 1) }),
        );
        const expected = messages.map((m) => Uint8Array.from(m.body));
        await Promise.all(
          messages.map((m) => first.commit(m, { claimFor: { owner: 'node-a', leaseMs: 3_600_000 } })),
        );
        const now = Date.now();
        assert.equal((await first.claimDue({ owner: 'node-a', now, limit: 100, leaseMs: 1000 })).length, 0);
        await first.close();
        const second = await open({ inProcess });
        for (const [i, m] of messages.entries()) {
          assert.ok(Buffer.from(await second.readBody(m.id)).equals(expected[i]!));
        }
        const claimed = await second.claimDue({ owner: 'node-b', now, limit: 100, leaseMs: 1000 });
        assert.equal(claimed.length, 20, 'leases of the previous run were released at open');
      });
    });
  }

  it('group commit: concurrent commits share transactions', async () => {
    for (const inProcess of [true, false]) {
      await withDir(async (_dir, open) => {
        const spool = await open({ inProcess });
        const before = spool.commitGroups();
        const messages = Array.from({ length: 200 }, () => makeMessage());
        await Promise.all(messages.map((m) => spool.commit(m, { events: [receivedEvent(m)] })));
        const after = spool.commitGroups();
        const items = after.items - before.items;
        const groups = after.groups - before.groups;
        assert.equal(items, 200);
        // In-process, one turn of the event loop is one batch; the worker drains what has arrived.
        if (inProcess) assert.equal(groups, 1);
        else assert.ok(groups >= 1 && groups < 100, `groups=${groups}`);
      });
    }
  });

  it('worker: a commit sent while another is unanswered waits briefly for more to share its transaction', async (t) => {
    // On tmpfs a transaction takes far less than the gaps below, so without gathering
    // each commit would be a transaction of its own.
    const shm = '/dev/shm';
    if (!existsSync(shm)) return t.skip('no /dev/shm (tmpfs) to commit on');
    const dir = await mkdtemp(join(shm, 'mxpress-gather-'));
    const spool = createSqliteSpool({ dataDir: dir });
    const spin = (ms: number): void => {
      // The event loop stays blocked, so no reply is taken in: every commit after the first has company.
      const until = performance.now() + ms;
      while (performance.now() < until) {}
    };
    try {
      await spool.open();
      await spool.commit(makeMessage());
      const before = spool.commitGroups();
      const pending: Promise<unknown>[] = [spool.commit(makeMessage())];
      spin(1);
      for (let i = 0; i < 40; i++) {
        pending.push(spool.commit(makeMessage()));
        spin(0.1);
      }
      await Promise.all(pending);
      const groups = spool.commitGroups().groups - before.groups;
      // The first alone (nobody was committing), then a gathering interval's worth at a time.
      assert.ok(groups <= 12, `41 commits in ${groups} transactions`);
    } finally {
      await spool.close();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('a request that fails in a batch fails alone; the rest of its batch commits', async () => {
    await withDir(async (_dir, open) => {
      // In-process, the calls of one event-loop turn are one batch.
      const spool = await open({ inProcess: true });
      const [a, b] = [makeMessage(), makeMessage()];
      const before = spool.commitGroups();
      const results = await Promise.allSettled([
        spool.commit(a, { events: [receivedEvent(a)] }),
        spool.update([{ messageId: 'no-such-message', index: 0, status: 'delivered' }]),
        spool.commit(b, { events: [receivedEvent(b)] }),
      ]);
      assert.deepEqual(
        results.map((r) => r.status),
        ['fulfilled', 'rejected', 'fulfilled'],
      );
      await rejectsWith(Promise.reject((results[1] as PromiseRejectedResult).reason), 'NOT_FOUND');
      assert.equal(spool.commitGroups().items - before.items, 2);
      assert.ok(await spool.getMessage(a.id));
      assert.ok(await spool.getMessage(b.id));
      assert.equal((await spool.stats()).messages, 2);
      assert.deepEqual(
        (await spool.eventsSince(0, 10)).map((e) => e.messageId),
        [a.id, b.id],
      );
    });
  });

  it('counts of a request that fails halfway are rolled back with it', async () => {
    await withDir(async (dir, open) => {
      const spool = await open({ inProcess: true });
      const [a, b] = [makeMessage(), makeMessage()];
      await spool.commit(a);
      // One batch: the update counts a's recipient as delivered, then fails on the second key.
      const results = await Promise.allSettled([
        spool.update([
          { messageId: a.id, index: 0, status: 'delivered' },
          { messageId: 'no-such-message', index: 0, status: 'delivered' },
        ]),
        spool.commit(b),
      ]);
      assert.deepEqual(
        results.map((r) => r.status),
        ['rejected', 'fulfilled'],
      );
      const queued = a.envelope.recipients.length + b.envelope.recipients.length;
      await assertCountersMatch(spool, dir, { queued });
    });
  });

  it('a second spool on the same data dir fails to open; the first keeps working', async () => {
    await withDir(async (dir, open) => {
      const first = await open();
      const second = createSqliteSpool({ dataDir: dir });
      await rejectsWith(second.open(), 'SPOOL_IO');
      await second.close();
      const m = makeMessage();
      await first.commit(m);
      assert.ok(await first.getMessage(m.id));
    });
  });

  it('maxDatabaseBytes: growth past the cap is SPOOL_FULL and stores nothing; space freed is reused', async () => {
    await withDir(async (_dir, open) => {
      const logs: string[] = [];
      const spool = await open({ maxDatabaseBytes: 2 * 1024 * 1024, log: (msg) => logs.push(msg) });
      const committed: string[] = [];
      let rejected: string | undefined;
      for (let i = 0; i < 40 && rejected === undefined; i++) {
        const m = makeMessage({ body: patternBytes(200_000, i + 1) });
        try {
          await spool.commit(m, { events: [receivedEvent(m)] });
          committed.push(m.id);
        } catch (error) {
          await rejectsWith(Promise.reject(error), 'SPOOL_FULL');
          rejected = m.id;
        }
      }
      assert.ok(rejected !== undefined, 'the cap was reached');
      assert.ok(committed.length >= 3, `committed ${committed.length}`);
      assert.equal(await spool.getMessage(rejected), undefined);
      const events = await spool.eventsSince(0, 1000);
      assert.equal(events.length, committed.length);
      // Delivering frees body pages; the same spool then accepts mail again.
      await spool.update(
        committed.map((messageId) => ({ messageId, index: 0, status: 'delivered' as const })),
      );
      const retry = makeMessage({ body: patternBytes(200_000, 99) });
      await spool.commit(retry);
      assert.ok(await spool.getMessage(retry.id));
    });
  });

  it('worker mode leaves small bodies with the caller and takes a large whole buffer without copying', async () => {
    await withDir(async (_dir, open) => {
      const spool = await open();
      const small = makeMessage({ body: patternBytes(10_000, 5) });
      await spool.commit(small);
      assert.equal(small.body.byteLength, 10_000, 'a small body is copied and left usable');
      const backing = patternBytes(10_000, 6);
      const view = makeMessage({ body: backing.subarray(10, 9_990) });
      await spool.commit(view);
      assert.equal(view.body.byteLength, 9_980, 'a view is copied and left usable');
      const large = makeMessage({ body: patternBytes(2 * 1024 * 1024, 7) });
      await spool.commit(large);
      assert.equal(large.body.byteLength, 0, 'a large ArrayBuffer was transferred to the worker');
      assert.ok(Buffer.from(await spool.readBody(small.id)).equals(patternBytes(10_000, 5)));
      assert.ok(
        Buffer.from(await spool.readBody(view.id)).equals(patternBytes(10_000, 6).subarray(10, 9_990)),
      );
      assert.ok(Buffer.from(await spool.readBody(large.id)).equals(patternBytes(2 * 1024 * 1024, 7)));
      // Handing the same (now detached) body in again is refused, not stored empty.
      await rejectsWith(spool.commit({ ...large, id: makeMessage().id }), 'SPOOL_IO');
      assert.equal((await spool.stats()).messages, 3);
    });
  });

  it('too many queued requests fail at once with SPOOL_IO; the rest complete', async () => {
    await withDir(async (_dir, open) => {
      const spool = await open({ inProcess: true });
      const calls = Array.from({ length: 10_001 }, () => spool.stats());
      const outcomes = await Promise.allSettled(calls);
      const rejected = outcomes.filter((o) => o.status === 'rejected');
      assert.equal(rejected.length, 1);
      await rejectsWith(Promise.reject(rejected[0]!.reason), 'SPOOL_IO');
      assert.equal((await spool.stats()).messages, 0);
    });
  });

  it('schema: version recorded, claimDue is an index range scan', async () => {
    await withDir(async (dir, open) => {
      const spool = await open();
      await spool.commit(makeMessage());
      await spool.close();
      // close checkpointed the WAL into the database: nothing is left to replay.
      const wal = join(dir, `${DATABASE_FILE}-wal`);
      assert.ok(!existsSync(wal) || statSync(wal).size === 0, 'WAL empty after close');
      readDatabase(dir, (db) => {
        const version = db.prepare("SELECT value FROM meta WHERE key = 'schema_version'").get();
        assert.equal(version?.value, String(SCHEMA_VERSION));
        const triggers = db.prepare("SELECT name FROM sqlite_master WHERE type = 'trigger'").all();
        assert.deepEqual(triggers, [], 'counters are kept by the write operations, not by triggers');
        for (const excluding of [false, true]) {
          const params = excluding ? [T0, '["a.test"]', 10] : [T0, 10];
          const plan = db
            .prepare(`EXPLAIN QUERY PLAN ${claimSql(excluding)}`)
            .all(...params)
            .map((row) => String(row.detail));
          assert.ok(
            plan.some((d) => d.includes('USING INDEX recipients_due (due_at<?)')),
            plan.join(' | '),
          );
          // Only the json_each list of excluded domains may be scanned, never a table.
          assert.ok(!plan.some((d) => d.startsWith('SCAN') && !d.includes('json_each')), plan.join(' | '));
        }
        const mode = db.prepare('PRAGMA journal_mode').get();
        assert.equal(mode?.journal_mode, 'wal');
      });
    });
  });
});

/** The counters as the tables themselves count them, in the shape of `stats()`. */
function countedInTables(dir: string): { messages: number; byStatus: Record<string, number> } {
  return readDatabase(dir, (db) => {
    const messages = Number(db.prepare('SELECT count(*) AS n FROM messages').get()?.n);
    const byStatus: Record<string, number> = {};
    for (const row of db.prepare('SELECT status, count(*) AS n FROM recipients GROUP BY status').all()) {
      byStatus[String(row.status)] = Number(row.n);
    }
    return { messages, byStatus };
  });
}

function nonZero(byStatus: Readonly<Record<string, number>>): Record<string, number> {
  return Object.fromEntries(Object.entries(byStatus).filter(([, n]) => n !== 0));
}

/** Commits, settles, cancels and purges a few messages: every path that moves a counter. */
async function exerciseCounters(spool: SqliteSpool): Promise<void> {
  const DAY = 86_400_000;
  const old = makeMessage({ to: ['a@x.test', 'b@x.test'] });
  const kept = makeMessage({ to: ['c@x.test', 'd@x.test', 'e@x.test'], receivedAt: T0 + 10 * DAY });
  const suppressed = makeMessage({
    to: ['f@x.test'],
    initialStatus: ['suppressed'],
    receivedAt: T0 + 10 * DAY,
  });
  for (const m of [old, kept, suppressed]) await spool.commit(m);
  await spool.update(
    [
      { messageId: old.id, index: 0, status: 'delivered' },
      { messageId: old.id, index: 1, status: 'bounced' },
      { messageId: kept.id, index: 0, status: 'deferred', nextAttemptAt: T0 + 11 * DAY },
    ],
    undefined,
  );
  await spool.cancel(kept.id);
  const cutoff = T0 + 5 * DAY;
  assert.equal(
    (await spool.purge({ before: cutoff, beforeId: queueIdFloor(cutoff), limit: 100 })).messages,
    1,
  );
}

/** Closes `spool`, then checks its last stats() against the tables and the tables against `expected`. */
async function assertCountersMatch(
  spool: SqliteSpool,
  dir: string,
  expected: Record<string, number>,
): Promise<void> {
  const stats = await spool.stats();
  await spool.close();
  const counted = countedInTables(dir);
  assert.equal(stats.messages, counted.messages);
  assert.deepEqual(nonZero(stats.recipientsByStatus), counted.byStatus);
  assert.deepEqual(counted.byStatus, expected);
}

describe('sqlite spool counters', () => {
  it('stats() agrees with the tables after commits, updates, cancels and purges', async () => {
    await withDir(async (dir, open) => {
      const spool = await open();
      await exerciseCounters(spool);
      await assertCountersMatch(spool, dir, { cancelled: 3, suppressed: 1 });
    });
  });

  it('a version 1 spool (counters kept by triggers) opens with its counts and keeps them', async () => {
    await withDir(async (dir, open) => {
      const db = new DatabaseSync(join(dir, DATABASE_FILE));
      migrate(db, 1);
      // Rows written as version 1 wrote them: its triggers counted them.
      db.exec(`INSERT INTO messages (id, received_at, mail_from, envelope, origin, headers, tags, size, pending, has_body)
        VALUES ('v1msg', ${T0}, 's@x.test', '{}', '{}', '{}', '{}', 0, 1, 0)`);
      db.exec(`INSERT INTO recipients (message_id, idx, address, domain, status, next_attempt_at, due_at, updated_at)
        VALUES ('v1msg', 0, 'r@x.test', 'x.test', 'deferred', ${T0}, ${T0}, ${T0})`);
      db.close();
      const spool = await open();
      const before = await spool.stats();
      assert.equal(before.messages, 1);
      assert.equal(before.recipientsByStatus.deferred, 1);
      await exerciseCounters(spool);
      await assertCountersMatch(spool, dir, { cancelled: 3, deferred: 1, suppressed: 1 });
    });
  });
});

describe('event numbering across restarts', () => {
  it('continues after a clean stop and jumps past any lost number after an unclean one', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'mxpress-seq-'));
    try {
      const commitOne = async (): Promise<number> => {
        const spool = createSqliteSpool({ dataDir, inProcess: true });
        await spool.open();
        const m = makeMessage();
        const [event] = await spool.commit(m, { events: [receivedEvent(m)] });
        await spool.close();
        return event!.seq;
      };
      const first = await commitOne();
      const second = await commitOne();
      assert.equal(second, first + 1);
      // A stop that never reached close(): the flag the open set is still 0.
      const db = new DatabaseSync(join(dataDir, DATABASE_FILE));
      db.prepare("UPDATE meta SET value = '0' WHERE key = 'clean_stop'").run();
      db.close();
      const third = await commitOne();
      assert.equal(third, second + 1 + 1_000_000);
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});
