/** TtlCache: expiry by the injected clock, LRU eviction, the disabled cache. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TtlCache } from './cache.ts';

test('entries expire after their lifetime', () => {
  let now = 0;
  const cache = new TtlCache<string>(10, () => now);
  cache.set('a', 'A', 1000);
  now = 999;
  assert.equal(cache.get('a'), 'A');
  now = 1000;
  assert.equal(cache.get('a'), undefined);
  assert.equal(cache.size, 0);
});

test('the least recently used entry is evicted when full', () => {
  const cache = new TtlCache<number>(2, () => 0);
  cache.set('a', 1, 10);
  cache.set('b', 2, 10);
  assert.equal(cache.get('a'), 1); // b is now the oldest
  cache.set('c', 3, 10);
  assert.equal(cache.get('b'), undefined);
  assert.equal(cache.get('a'), 1);
  assert.equal(cache.get('c'), 3);
  assert.equal(cache.size, 2);
});

test('size 0 and non-positive lifetimes store nothing', () => {
  const off = new TtlCache<number>(0, () => 0);
  off.set('a', 1, 1000);
  assert.equal(off.get('a'), undefined);
  const on = new TtlCache<number>(5, () => 0);
  on.set('a', 1, 0);
  on.set('b', 1, Number.NaN);
  assert.equal(on.size, 0);
});
