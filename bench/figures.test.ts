/**
 * Percentiles and per-second series used by the benchmark report.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { counterPerSecond, cpuMsPerMessage, percentiles, perSecond, rate } from './figures.ts';

test('nearest-rank percentiles of 1..100, and zeros for no values', () => {
  const values = Array.from({ length: 100 }, (_, i) => 100 - i);
  assert.deepEqual(percentiles(values), { count: 100, p50: 50, p90: 90, p99: 99, max: 100, mean: 50.5 });
  assert.deepEqual(percentiles([7]), { count: 1, p50: 7, p90: 7, p99: 7, max: 7, mean: 7 });
  assert.deepEqual(percentiles([]), { count: 0, p50: 0, p90: 0, p99: 0, max: 0, mean: 0 });
});

test('events are counted in the whole second they fall in; a fixed length pads and cuts', () => {
  assert.deepEqual(perSecond([1000, 1500, 1999, 2000, 4100], 1000), [3, 1, 0, 1]);
  assert.deepEqual(perSecond([1000, 9000], 1000, 3), [1, 0, 0]);
  assert.deepEqual(perSecond([], 0, 2), [0, 0]);
  assert.deepEqual(perSecond([500], 1000, 2), [0, 0]);
});

test('a counter observed at odd times becomes per-second increments', () => {
  const observations = [
    { t: 900, value: 5 },
    { t: 1200, value: 8 },
    { t: 1900, value: 12 },
    { t: 3500, value: 20 },
  ];
  // Origin 1000: second 0 goes 5 -> 12, second 1 stays, second 2 reaches 20, second 3 nothing.
  assert.deepEqual(counterPerSecond(observations, 1000, 4), [7, 0, 8, 0]);
  assert.deepEqual(counterPerSecond([], 0, 2), [0, 0]);
});

test('rate is per second and 0 without elapsed time', () => {
  assert.equal(rate(500, 250), 2000);
  assert.equal(rate(5, 0), 0);
});

test('CPU per message: a whole core at 2000 msgs/s is 0.5 ms each; no messages gives 0', () => {
  assert.equal(cpuMsPerMessage(100, 2000), 0.5);
  assert.equal(cpuMsPerMessage(106.6, 2167.1), 0.492);
  assert.equal(cpuMsPerMessage(50, 0), 0);
});
