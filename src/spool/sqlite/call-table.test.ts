/**
 * The table of calls awaiting their reply: ids in order, each value taken once,
 * growth past a call left unanswered, and nothing kept alive for the garbage
 * collector once taken.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { getHeapSpaceStatistics, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { CallTable } from './call-table.ts';

test('ids come in order; each value is taken once; unknown ids give nothing', () => {
  const table = new CallTable<{ n: number }>(4);
  const ids = [1, 2, 3].map((n) => table.add({ n }));
  assert.deepEqual(ids, [1, 2, 3]);
  assert.equal(table.size, 3);
  assert.deepEqual(table.take(2), { n: 2 });
  assert.equal(table.take(2), undefined);
  assert.deepEqual(table.ids(), [1, 3]);
  for (const bad of [0, -1, 4, 1.5, Number.NaN]) assert.equal(table.take(bad), undefined, String(bad));
  assert.deepEqual(table.take(3), { n: 3 });
  assert.deepEqual(table.take(1), { n: 1 });
  assert.equal(table.size, 0);
  assert.deepEqual(table.ids(), []);
});

test('a call left unanswered while thousands come and go keeps its value; the ring grows around it', () => {
  const table = new CallTable<{ n: number }>(4);
  const stuck = table.add({ n: 0 });
  for (let n = 1; n <= 5000; n++) {
    const id = table.add({ n });
    assert.deepEqual(table.take(id), { n });
  }
  // Answered out of order, in a window wider than the first ring.
  const window = Array.from({ length: 100 }, (_, i) => table.add({ n: 10_000 + i }));
  for (const id of [...window].reverse()) assert.equal(table.take(id)?.n, 10_000 + window.indexOf(id));
  assert.deepEqual(table.ids(), [stuck]);
  assert.deepEqual(table.take(stuck), { n: 0 });
  assert.equal(table.size, 0);
});

test('values taken are not kept alive into the old generation (a Map used the same way is)', () => {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as (options?: { type: 'minor' | 'major' }) => void;
  const oldSpace = (): number =>
    getHeapSpaceStatistics().find((s) => s.space_name === 'old_space')?.space_used_size ?? 0;
  // Calls come and go, 64 between young-generation collections, as under load.
  const growth = (use: (value: object) => void): number => {
    gc();
    gc();
    const before = oldSpace();
    for (let round = 0; round < 200; round++) {
      for (let i = 0; i < 64; i++) use({ payload: new Array(32).fill(round) });
      gc({ type: 'minor' });
    }
    return oldSpace() - before;
  };
  const map = new Map<number, object>();
  let next = 1;
  const mapGrowth = growth((value) => {
    const id = next++;
    map.set(id, value);
    map.delete(id);
  });
  const table = new CallTable<object>();
  const tableGrowth = growth((value) => table.take(table.add(value)));
  assert.ok(mapGrowth > 512 * 1024, `the Map baseline promoted only ${mapGrowth} bytes`);
  assert.ok(tableGrowth < 64 * 1024, `the table promoted ${tableGrowth} bytes (Map: ${mapGrowth})`);
});
