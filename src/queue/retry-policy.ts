/**
 * When to try a deferred recipient again, and when to give up. Pure math.
 *
 * In: how many attempts were made, when the message arrived, now, the configured
 * intervals (the last one repeats) and the queue lifetime. Out: either the next
 * attempt time (jittered by +-10% so a burst of deferrals does not come back as a
 * burst) or `expire`. The last attempt is scheduled at the expiry time itself, so a
 * message is always tried once more right before it is given up.
 */

export interface RetryPolicy {
  readonly intervalsMs: readonly number[];
  readonly maxQueueTimeMs: number;
}

export type RetryDecision = { readonly kind: 'retry'; readonly at: number } | { readonly kind: 'expire' };

/** `attempts` counts the attempt that just failed (1 after the first). */
export function nextRetry(
  policy: RetryPolicy,
  attempts: number,
  receivedAt: number,
  now: number,
  random: () => number = Math.random,
): RetryDecision {
  const expiresAt = receivedAt + policy.maxQueueTimeMs;
  if (now >= expiresAt) return { kind: 'expire' };
  const intervals = policy.intervalsMs;
  const base =
    intervals.length === 0 ? 60_000 : intervals[Math.min(Math.max(attempts, 1), intervals.length) - 1]!;
  const jitter = 0.9 + 0.2 * random();
  const at = Math.round(now + base * jitter);
  return { kind: 'retry', at: Math.min(at, expiresAt) };
}

/** Whether a recipient has outlived the queue lifetime. */
export function isExpired(policy: RetryPolicy, receivedAt: number, now: number): boolean {
  return now >= receivedAt + policy.maxQueueTimeMs;
}
