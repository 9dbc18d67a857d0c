/**
 * Unit tests for the sliding-window counters and the AUTH lockout, with an
 * injected clock (no waiting).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AuthLockout } from './auth-lockout.ts';
import { RateWindow } from './rate-window.ts';

function clock(start = 1_000_000): { now: () => number; advance: (ms: number) => void } {
  let t = start;
  return { now: () => t, advance: (ms) => (t += ms) };
}

describe('RateWindow', () => {
  it('allows up to the limit within a window, then refuses without counting the refusal', () => {
    const c = clock();
    const w = new RateWindow({ windowMs: 60_000, limit: 3, maxKeys: 10, now: c.now });
    assert.equal(w.take('a'), true);
    assert.equal(w.take('a'), true);
    assert.equal(w.take('a'), true);
    assert.equal(w.take('a'), false);
    assert.equal(w.count('a'), 3);
    assert.equal(w.take('b'), true, 'keys are independent');
    assert.equal(w.allows('b', 3), false);
    assert.equal(w.allows('b', 2), true);
  });

  it('slides: the previous window weighs less as it ages, and is gone after two windows', () => {
    const c = clock(0);
    const w = new RateWindow({ windowMs: 60_000, limit: 10, maxKeys: 10, now: c.now });
    for (let i = 0; i < 10; i++) assert.equal(w.take('k'), true);
    assert.equal(w.take('k'), false);
    c.advance(60_000); // start of the next bucket: the full previous bucket still counts
    assert.equal(w.count('k'), 10);
    assert.equal(w.take('k'), false);
    c.advance(30_000); // half of the previous bucket overlaps the window
    assert.equal(w.count('k'), 5);
    assert.equal(w.take('k'), true);
    assert.equal(w.count('k'), 6);
    c.advance(90_000); // two buckets later nothing is left
    assert.equal(w.count('k'), 0);
  });

  it('limit 0 is unlimited and tracks nothing', () => {
    const w = new RateWindow({ windowMs: 1000, limit: 0, maxKeys: 10, now: () => 0 });
    for (let i = 0; i < 1000; i++) assert.equal(w.take(`k${i}`), true);
    assert.equal(w.size, 0);
  });

  it('holds at most maxKeys keys, evicting the least recently used', () => {
    const c = clock();
    const w = new RateWindow({ windowMs: 60_000, limit: 2, maxKeys: 3, now: c.now });
    w.add('a');
    w.add('b');
    w.add('c');
    w.add('a'); // a is now the most recently used
    w.add('d'); // evicts b
    assert.equal(w.size, 3);
    assert.equal(w.count('b'), 0);
    assert.equal(w.count('a'), 2);
    assert.equal(w.count('c'), 1);
    for (let i = 0; i < 10_000; i++) w.add(`flood${i}`);
    assert.equal(w.size, 3);
  });

  it('refuses nonsense options', () => {
    assert.throws(() => new RateWindow({ windowMs: 0, limit: 1, maxKeys: 1, now: Date.now }), RangeError);
    assert.throws(() => new RateWindow({ windowMs: 1, limit: 1, maxKeys: 0, now: Date.now }), RangeError);
  });
});

describe('AuthLockout', () => {
  const options = { maxFailures: 3, windowMs: 600_000, lockoutMs: 900_000, maxKeys: 100 };

  it('locks a key after maxFailures within the window, for lockoutMs', () => {
    const c = clock();
    const l = new AuthLockout({ ...options, now: c.now });
    assert.equal(l.failed('1.2.3.4'), false);
    assert.equal(l.failed('1.2.3.4'), false);
    assert.equal(l.locked('1.2.3.4'), false);
    assert.equal(l.failed('1.2.3.4'), true);
    assert.equal(l.locked('1.2.3.4'), true);
    assert.equal(l.locked('5.6.7.8'), false);
    c.advance(900_000 - 1);
    assert.equal(l.locked('1.2.3.4'), true);
    c.advance(1);
    assert.equal(l.locked('1.2.3.4'), false);
    assert.equal(l.failed('1.2.3.4'), false, 'the count started again after the lockout');
  });

  it('failures spread wider than the window do not lock', () => {
    const c = clock(0);
    const l = new AuthLockout({ ...options, now: c.now });
    for (let i = 0; i < 10; i++) {
      assert.equal(l.failed('slow'), false, `failure ${i}`);
      c.advance(1_200_000);
    }
  });

  it('success forgets failures but does not lift a lock; 0 disables', () => {
    const c = clock();
    const l = new AuthLockout({ ...options, now: c.now });
    l.failed('u');
    l.failed('u');
    l.succeeded('u');
    assert.equal(l.failed('u'), false);
    l.failed('u');
    assert.equal(l.failed('u'), true);
    l.succeeded('u');
    assert.equal(l.locked('u'), true);
    const off = new AuthLockout({ ...options, maxFailures: 0, now: c.now });
    for (let i = 0; i < 20; i++) assert.equal(off.failed('u'), false);
    assert.equal(off.locked('u'), false);
  });

  it('keeps at most maxKeys locks', () => {
    const l = new AuthLockout({ ...options, maxFailures: 1, maxKeys: 5, now: () => 0 });
    for (let i = 0; i < 100; i++) l.failed(`k${i}`);
    assert.equal(l.locked('k99'), true);
    assert.equal(l.locked('k0'), false);
  });
});
