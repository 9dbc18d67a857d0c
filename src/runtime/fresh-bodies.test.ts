import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FreshBodies } from './fresh-bodies.ts';

const bytes = (n: number, fill = 1): Uint8Array => new Uint8Array(n).fill(fill);

test('a body is handed out as many times as it has reads, then forgotten', () => {
  const cache = new FreshBodies(1000);
  const body = bytes(100);
  cache.put('a', body, 2);
  assert.equal(cache.take('a'), body);
  assert.equal(cache.bytes, 100);
  assert.equal(cache.take('a'), body);
  assert.equal(cache.take('a'), undefined);
  assert.equal(cache.bytes, 0);
  assert.equal(cache.size, 0);
});

test('past the byte budget the oldest bodies go first', () => {
  const cache = new FreshBodies(1000);
  for (const id of ['a', 'b', 'c', 'd']) cache.put(id, bytes(240), 1);
  assert.equal(cache.bytes, 960);
  cache.put('e', bytes(240), 1);
  assert.equal(cache.bytes, 960);
  assert.equal(cache.take('a'), undefined);
  assert.ok(cache.take('b'));
  assert.ok(cache.take('e'));
  assert.equal(cache.bytes, 480);
});

test('a body over a quarter of the budget, a zero read count and a second put are ignored', () => {
  const cache = new FreshBodies(1000);
  cache.put('big', bytes(251), 1);
  cache.put('none', bytes(10), 0);
  cache.put('x', bytes(10, 1), 1);
  cache.put('x', bytes(10, 2), 1);
  assert.equal(cache.take('big'), undefined);
  assert.equal(cache.take('none'), undefined);
  assert.equal(cache.take('x')?.[0], 1);
  assert.equal(cache.bytes, 0);
});
