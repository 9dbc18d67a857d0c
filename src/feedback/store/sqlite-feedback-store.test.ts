/**
 * Tests for the SQLite feedback store: suppression entries and webhook cursors
 * survive a reopen, pages are in address order without lapsed entries, upserts count
 * only new addresses, and a closed or too-new database is refused.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { after, before, describe, it } from 'node:test';
import { FEEDBACK_DATABASE_FILE, SqliteFeedbackStore } from './sqlite-feedback-store.ts';

let root: string;
before(async () => {
  root = await mkdtemp(join(tmpdir(), 'mxpress-feedback-store-'));
});
after(async () => {
  await rm(root, { recursive: true, force: true });
});

async function openStore(name: string): Promise<SqliteFeedbackStore> {
  const store = new SqliteFeedbackStore({ dataDir: join(root, name) });
  await store.open();
  return store;
}

describe('SqliteFeedbackStore', () => {
  it('keeps suppressions and cursors across a reopen', async () => {
    const store = await openStore('reopen');
    const added = await store.putSuppressions([
      { address: 'a@example.com', reason: '550 5.1.1 no such user', messageId: 'M1', createdAt: 10 },
      { address: 'b@example.com', reason: 'operator', createdAt: 20, expiresAt: 5000 },
    ]);
    assert.equal(added, 2);
    await store.putCursor({
      webhookId: 'wh_1',
      lastSeq: 41,
      attempts: 2,
      nextAttemptAt: 900,
      lastError: 'HTTP 500',
      lastSuccessAt: 800,
      updatedAt: 850,
    });
    await store.close();

    const again = await openStore('reopen');
    assert.deepEqual(await again.getSuppression('a@example.com'), {
      address: 'a@example.com',
      reason: '550 5.1.1 no such user',
      messageId: 'M1',
      createdAt: 10,
    });
    assert.deepEqual(await again.getSuppression('b@example.com'), {
      address: 'b@example.com',
      reason: 'operator',
      createdAt: 20,
      expiresAt: 5000,
    });
    assert.deepEqual(await again.getCursor('wh_1'), {
      webhookId: 'wh_1',
      lastSeq: 41,
      attempts: 2,
      nextAttemptAt: 900,
      lastError: 'HTTP 500',
      lastSuccessAt: 800,
      updatedAt: 850,
    });
    assert.equal(await again.getCursor('wh_other'), undefined);
    await again.close();
  });

  it('counts only new addresses on upsert and replaces existing ones', async () => {
    const store = await openStore('upsert');
    assert.equal(await store.putSuppressions([{ address: 'x@example.com', reason: 'one', createdAt: 1 }]), 1);
    const added = await store.putSuppressions([
      { address: 'x@example.com', reason: 'two', createdAt: 2, expiresAt: 99 },
      { address: 'y@example.com', reason: 'new', createdAt: 2 },
    ]);
    assert.equal(added, 1);
    assert.deepEqual(await store.getSuppression('x@example.com'), {
      address: 'x@example.com',
      reason: 'two',
      createdAt: 2,
      expiresAt: 99,
    });
    assert.equal(await store.deleteSuppression('x@example.com'), true);
    assert.equal(await store.deleteSuppression('x@example.com'), false);
    await store.close();
  });

  it('pages in address order, leaves out lapsed entries, and purges them', async () => {
    const store = await openStore('pages');
    const entries = ['d', 'a', 'c', 'b', 'e'].map((l, i) => ({
      address: `${l}@example.com`,
      reason: l,
      createdAt: i,
      ...(l === 'c' ? { expiresAt: 100 } : {}),
    }));
    await store.putSuppressions(entries);
    const first = await store.listSuppressions({ limit: 2, activeAt: 100 });
    assert.deepEqual(
      first.map((e) => e.address),
      ['a@example.com', 'b@example.com'],
    );
    const second = await store.listSuppressions({ after: 'b@example.com', limit: 2, activeAt: 100 });
    assert.deepEqual(
      second.map((e) => e.address),
      ['d@example.com', 'e@example.com'],
    );
    const all = await store.listSuppressions({ limit: 100 });
    assert.equal(all.length, 5, 'without activeAt lapsed entries are listed too');
    assert.equal(await store.deleteExpiredSuppressions(99), 0);
    assert.equal(await store.deleteExpiredSuppressions(100), 1);
    assert.equal(await store.getSuppression('c@example.com'), undefined);
    await store.close();
  });

  it('rejects calls after close, and refuses a database from a newer build', async () => {
    const store = await openStore('closed');
    await store.close();
    await assert.rejects(store.getSuppression('a@example.com'), /not open/);
    await assert.rejects(
      store.putCursor({ webhookId: 'w', lastSeq: 0, attempts: 0, nextAttemptAt: 0, updatedAt: 0 }),
      /not open/,
    );

    const db = new DatabaseSync(join(root, 'closed', FEEDBACK_DATABASE_FILE));
    db.exec("UPDATE meta SET value = '999' WHERE key = 'schema_version'");
    db.close();
    await assert.rejects(openStore('closed'), /schema 999/);
  });

  it('leaves the database in WAL journal mode', async () => {
    const store = await openStore('pragmas');
    await store.close();
    const db = new DatabaseSync(join(root, 'pragmas', FEEDBACK_DATABASE_FILE));
    assert.equal((db.prepare('PRAGMA journal_mode').get() as { journal_mode: string }).journal_mode, 'wal');
    db.close();
  });
});
