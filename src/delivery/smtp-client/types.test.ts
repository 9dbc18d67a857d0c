// Timeout defaults (RFC 5321 4.5.3.2) and how partial timeouts are merged.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DEFAULT_TIMEOUTS, resolveTimeouts } from './types.ts';

describe('resolveTimeouts', () => {
  it('keeps RFC 5321 4.5.3.2 defaults', () => {
    const t = resolveTimeouts();
    assert.deepEqual(
      [t.greetingMs, t.mailMs, t.rcptMs, t.dataInitMs, t.dataBlockMs, t.dataTermMs],
      [300_000, 300_000, 300_000, 120_000, 180_000, 600_000],
    );
    assert.deepEqual(t, DEFAULT_TIMEOUTS);
  });

  it('takes valid values and ignores undefined, zero, negative, NaN; caps huge ones', () => {
    const t = resolveTimeouts({
      mailMs: 50,
      rcptMs: undefined,
      dataInitMs: 0,
      dataBlockMs: -1,
      dataTermMs: Number.NaN,
      idleMs: 1e12,
    });
    assert.equal(t.mailMs, 50);
    assert.equal(t.rcptMs, DEFAULT_TIMEOUTS.rcptMs);
    assert.equal(t.dataInitMs, DEFAULT_TIMEOUTS.dataInitMs);
    assert.equal(t.dataBlockMs, DEFAULT_TIMEOUTS.dataBlockMs);
    assert.equal(t.dataTermMs, DEFAULT_TIMEOUTS.dataTermMs);
    assert.equal(t.idleMs, 2_147_483_647);
  });
});
