import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isExpired, nextRetry } from './retry-policy.ts';

const policy = { intervalsMs: [1000, 2000, 60_000], maxQueueTimeMs: 600_000 };

describe('retry policy', () => {
  it('walks the intervals and repeats the last one', () => {
    const mid = () => 0.5; // no jitter
    assert.deepEqual(nextRetry(policy, 1, 0, 0, mid), { kind: 'retry', at: 1000 });
    assert.deepEqual(nextRetry(policy, 2, 0, 10, mid), { kind: 'retry', at: 2010 });
    assert.deepEqual(nextRetry(policy, 3, 0, 10, mid), { kind: 'retry', at: 60_010 });
    assert.deepEqual(nextRetry(policy, 9, 0, 10, mid), { kind: 'retry', at: 60_010 });
  });

  it('jitters within +-10%', () => {
    assert.deepEqual(
      nextRetry(policy, 1, 0, 0, () => 0),
      { kind: 'retry', at: 900 },
    );
    assert.deepEqual(
      nextRetry(policy, 1, 0, 0, () => 0.999999),
      { kind: 'retry', at: 1100 },
    );
  });

  it('schedules the last attempt at the expiry time, then expires', () => {
    assert.deepEqual(
      nextRetry(policy, 3, 0, 590_000, () => 0.5),
      { kind: 'retry', at: 600_000 },
    );
    assert.deepEqual(
      nextRetry(policy, 4, 0, 600_000, () => 0.5),
      { kind: 'expire' },
    );
    assert.equal(isExpired(policy, 0, 599_999), false);
    assert.equal(isExpired(policy, 0, 600_000), true);
  });
});
