/**
 * Tests for the dispatcher's timing pieces: a notification given while nobody waits
 * is kept for the next wait, close() ends waits, and the retry delay doubles with
 * jitter up to its cap.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { retryDelay, Wake } from './wake.ts';

describe('Wake', () => {
  it('keeps a notification for the next wait and releases a waiter at once', async () => {
    const wake = new Wake();
    wake.notify();
    const started = performance.now();
    await wake.wait(60_000);
    const waiting = wake.wait(60_000);
    wake.notify();
    await waiting;
    wake.close();
    await wake.wait(60_000);
    assert.ok(performance.now() - started < 1000);
    assert.equal(wake.closed, true);
  });

  it('times out when nothing happens', async () => {
    const wake = new Wake();
    const started = performance.now();
    await wake.wait(30);
    assert.ok(performance.now() - started >= 25);
  });
});

describe('retryDelay', () => {
  it('doubles from the base, jitters between half and all, and stops at the cap', () => {
    const full = () => 1;
    assert.deepEqual(
      [1, 2, 3, 4].map((n) => retryDelay(n, 2000, 3_600_000, full)),
      [2000, 4000, 8000, 16000],
    );
    assert.equal(
      retryDelay(1, 2000, 3_600_000, () => 0),
      1000,
    );
    assert.equal(retryDelay(30, 2000, 3_600_000, full), 3_600_000);
    assert.equal(
      retryDelay(10_000, 2000, 3_600_000, () => 0.5),
      2_700_000,
    );
  });
});
