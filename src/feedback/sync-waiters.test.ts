/**
 * Sync delivery's waiters: a question answered by the first verdict of every
 * recipient or by the budget; a question that comes (from another thread) before the
 * message is registered waits for the registration within the same budget.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { DeliveredEvent } from '../contracts/events.ts';
import { SyncWaiters } from './sync-waiters.ts';

function delivered(messageId: string, recipient: string): DeliveredEvent {
  const attempt = { at: 0, durationMs: 1, route: 'direct', outcome: 'delivered' as const };
  return { type: 'delivered', seq: 1, at: 0, messageId, recipient, attempt };
}

describe('SyncWaiters', () => {
  it('answers once every recipient has a verdict', async () => {
    const waiters = new SyncWaiters();
    waiters.register('M1', ['a@x.test', 'b@x.test']);
    const outcome = waiters.outcome('M1', 5000);
    waiters.observe(delivered('M1', 'a@x.test'));
    waiters.observe(delivered('M1', 'b@x.test'));
    const result = await outcome;
    assert.deepEqual([...result.verdicts.keys()], ['a@x.test', 'b@x.test']);
    assert.deepEqual(result.pending, []);
  });

  it('answers an unregistered message at once, unless told to wait for its registration', async () => {
    const waiters = new SyncWaiters();
    const asked = Date.now();
    assert.deepEqual(await waiters.outcome('M2', 5000), { verdicts: new Map(), pending: [] });
    assert.ok(Date.now() - asked < 1000, 'an unregistered message is answered at once, not after the budget');
    const started = Date.now();
    const early = waiters.outcome('M3', 5000, true);
    setTimeout(() => {
      waiters.register('M3', ['c@x.test']);
      waiters.observe(delivered('M3', 'c@x.test'));
    }, 50);
    const result = await early;
    assert.equal(result.verdicts.get('c@x.test')?.type, 'delivered');
    assert.ok(Date.now() - started < 2000);
  });

  it('gives up on a registration that never comes when the budget runs out', async () => {
    const waiters = new SyncWaiters();
    const started = Date.now();
    const result = await waiters.outcome('M4', 100, true);
    assert.ok(Date.now() - started >= 90);
    assert.deepEqual(result, { verdicts: new Map(), pending: [] });
  });
});
