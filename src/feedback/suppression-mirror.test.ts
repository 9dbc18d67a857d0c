/**
 * The ingress thread's copy of the suppression list answers like the list: from a
 * snapshot, then the changes the list announces; case-insensitive; lapsed entries
 * and a disabled list suppress nothing.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { SuppressionEntry } from '../contracts/feedback-store.ts';
import { SuppressionMirror } from './suppression-mirror.ts';

const NOW = Date.UTC(2026, 11, 7);

function entry(address: string, expiresAt?: number): SuppressionEntry {
  return {
    address,
    reason: '550 5.1.1 gone',
    createdAt: NOW - 1000,
    ...(expiresAt === undefined ? {} : { expiresAt }),
  };
}

describe('SuppressionMirror', () => {
  it('starts from the snapshot and follows set and delete changes', () => {
    const mirror = new SuppressionMirror({ enabled: true, entries: [entry('a@x.test')], now: () => NOW });
    assert.equal(mirror.check('A@X.test')?.address, 'a@x.test');
    assert.equal(mirror.check('b@x.test'), undefined);
    mirror.apply({ set: [entry('b@x.test')] });
    assert.equal(mirror.check('b@X.TEST')?.address, 'b@x.test');
    mirror.apply({ delete: ['a@x.test'] });
    assert.equal(mirror.check('a@x.test'), undefined);
  });

  it('does not count a lapsed entry', () => {
    const mirror = new SuppressionMirror({
      enabled: true,
      entries: [entry('old@x.test', NOW - 1), entry('new@x.test', NOW + 60_000)],
      now: () => NOW,
    });
    assert.equal(mirror.check('old@x.test'), undefined);
    assert.equal(mirror.check('new@x.test')?.address, 'new@x.test');
  });

  it('suppresses nothing while the list is disabled', () => {
    const mirror = new SuppressionMirror({ enabled: false, entries: [entry('a@x.test')], now: () => NOW });
    assert.equal(mirror.check('a@x.test'), undefined);
  });
});
