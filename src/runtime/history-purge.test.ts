import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { Spool } from '../contracts/spool.ts';
import { makeMessage, receivedEvent, T0 } from '../spool/conformance-fixtures.ts';
import { createSqliteSpool } from '../spool/sqlite/index.ts';
import { startHistoryPurge } from './history-purge.ts';

const DAY = 86_400_000;

async function withSpool(fn: (spool: Spool) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'mxpress-purge-'));
  const spool = createSqliteSpool({ dataDir: dir, inProcess: true });
  await spool.open();
  try {
    await fn(spool);
  } finally {
    await spool.close();
    await rm(dir, { recursive: true, force: true });
  }
}

/** Three finished and one pending message from day 0, one finished from day 9.5. */
async function fill(spool: Spool): Promise<{ old: string[]; pending: string; recent: string }> {
  const old = [1, 2, 3].map((i) => makeMessage({ receivedAt: T0 + i }));
  const pending = makeMessage({ receivedAt: T0 + 4 });
  const recent = makeMessage({ receivedAt: T0 + 9.5 * DAY });
  for (const m of [...old, pending, recent]) await spool.commit(m, { events: [receivedEvent(m)] });
  await spool.update(
    [...old, recent].map((m) => ({ messageId: m.id, index: 0, status: 'delivered' as const })),
  );
  return { old: old.map((m) => m.id), pending: pending.id, recent: recent.id };
}

test('a run purges, batch by batch, what is older than the retention; pending mail stays', async () => {
  await withSpool(async (spool) => {
    const ids = await fill(spool);
    const logs: string[] = [];
    const purge = startHistoryPurge({
      spool,
      retentionMs: 7 * DAY,
      now: () => T0 + 10 * DAY,
      batch: 2,
      firstAfterMs: 3_600_000,
      log: (_level, message, fields) => logs.push(`${message} ${JSON.stringify(fields)}`),
    });
    try {
      assert.deepEqual(await purge.runOnce(), { messages: 3, events: 4 });
      for (const id of ids.old) assert.equal(await spool.getMessage(id), undefined);
      assert.ok(await spool.getMessage(ids.pending));
      assert.ok(await spool.getMessage(ids.recent));
      assert.deepEqual(
        (await spool.eventsSince(0, 10)).map((e) => e.messageId),
        [ids.recent],
      );
      assert.equal(logs.length, 1);
      assert.match(logs[0]!, /purged old history from the spool .*"messages":3,"events":4/);
      assert.deepEqual(await purge.runOnce(), { messages: 0, events: 0 });
    } finally {
      await purge.stop();
    }
  });
});

test('the timer runs the purge on its own; retention 0 keeps everything', async () => {
  await withSpool(async (spool) => {
    const ids = await fill(spool);
    const kept = startHistoryPurge({
      spool,
      retentionMs: 0,
      now: () => T0 + 10 * DAY,
      firstAfterMs: 1,
      log: () => {},
    });
    assert.deepEqual(await kept.runOnce(), { messages: 0, events: 0 });
    await kept.stop();
    assert.ok(await spool.getMessage(ids.old[0]!));

    const { promise, resolve } = Promise.withResolvers<string>();
    const timed = startHistoryPurge({
      spool,
      retentionMs: 7 * DAY,
      now: () => T0 + 10 * DAY,
      firstAfterMs: 1,
      log: (_level, message) => resolve(message),
    });
    try {
      const message = await Promise.race([
        promise,
        new Promise<string>((_, reject) =>
          setTimeout(() => reject(new Error('no purge ran')), 10_000).unref(),
        ),
      ]);
      assert.equal(message, 'purged old history from the spool');
      assert.equal(await spool.getMessage(ids.old[0]!), undefined);
    } finally {
      await timed.stop();
    }
  });
});

test('old events a webhook has yet to send stay until it has sent them', async () => {
  await withSpool(async (spool) => {
    await fill(spool);
    const stored = await spool.eventsSince(0, 10);
    let sentUpTo = stored[1]!.seq;
    const purge = startHistoryPurge({
      spool,
      retentionMs: 7 * DAY,
      now: () => T0 + 10 * DAY,
      firstAfterMs: 3_600_000,
      log: () => {},
      keepEventsAfter: () => sentUpTo,
    });
    try {
      // Messages go by age; of the four old events only the two already sent go.
      assert.deepEqual(await purge.runOnce(), { messages: 3, events: 2 });
      assert.equal((await spool.eventsSince(0, 10)).length, 3);
      sentUpTo = stored.at(-1)!.seq;
      assert.deepEqual(await purge.runOnce(), { messages: 0, events: 2 });
    } finally {
      await purge.stop();
    }
  });
});

test('a webhook holds events for at most holdMs; then they go and it is told to skip past them', async () => {
  await withSpool(async (spool) => {
    await fill(spool);
    const stored = await spool.eventsSince(0, 10);
    const dropped: number[] = [];
    const purge = startHistoryPurge({
      spool,
      retentionMs: 1 * DAY,
      now: () => T0 + 10 * DAY,
      firstAfterMs: 3_600_000,
      log: () => {},
      // The webhook never took anything; events older than 8 days may not be held.
      keepEventsAfter: () => 0,
      holdMs: 8 * DAY,
      onHeldEventsDropped: (seq) => dropped.push(seq),
    });
    try {
      // The four old events (T0..) are past the hold; the recent one (T0 + 9 days) stays.
      assert.deepEqual(await purge.runOnce(), { messages: 3, events: 4 });
      assert.deepEqual(dropped, [stored[3]!.seq]);
      assert.equal((await spool.eventsSince(0, 10)).length, 1);
      assert.deepEqual(await purge.runOnce(), { messages: 0, events: 0 });
      assert.deepEqual(dropped, [stored[3]!.seq], 'nothing more was dropped');
    } finally {
      await purge.stop();
    }
  });
});
