/**
 * Keyed sliding-window counters with a bounded number of keys (LRU eviction).
 *
 * Each key keeps two fixed buckets (the current window and the one before); the
 * count "in the last window" is the current bucket plus the previous one weighted
 * by how much of it still overlaps the sliding window, rounded up. That is an
 * estimate in O(1) memory per key (it assumes the previous bucket's events were
 * spread evenly), erring towards counting too many: good enough for abuse limits.
 * Keys are client IPs, user names and addresses: UNTRUSTED and unbounded in
 * number, so the map holds at most `maxKeys`, evicting the least recently used (an
 * evicted key starts again from zero, which only lets a client through, never
 * blocks one wrongly). Pure: time comes from the injected clock; no timers, no
 * I/O, nothing throws for any key.
 */

export type Clock = () => number;

export interface RateWindowOptions {
  /** Length of the sliding window in ms. */
  readonly windowMs: number;
  /** Most events allowed in any window; 0 means unlimited (nothing is tracked). */
  readonly limit: number;
  /** Most keys remembered at once. */
  readonly maxKeys: number;
  readonly now: Clock;
}

interface Buckets {
  /** Start of the current bucket, a multiple of windowMs. */
  start: number;
  current: number;
  previous: number;
}

export class RateWindow {
  readonly limit: number;
  readonly windowMs: number;
  #maxKeys: number;
  #now: Clock;
  #keys = new Map<string, Buckets>();

  constructor(options: RateWindowOptions) {
    if (!(options.windowMs > 0)) throw new RangeError('windowMs must be positive');
    if (!(options.maxKeys >= 1)) throw new RangeError('maxKeys must be at least 1');
    if (!(options.limit >= 0)) throw new RangeError('limit must not be negative');
    this.limit = options.limit;
    this.windowMs = options.windowMs;
    this.#maxKeys = options.maxKeys;
    this.#now = options.now;
  }

  /** Keys currently remembered (at most maxKeys). */
  get size(): number {
    return this.#keys.size;
  }

  /** Estimated events for `key` within the last window. */
  count(key: string): number {
    const b = this.#keys.get(key);
    if (!b) return 0;
    this.#roll(b);
    return this.#estimate(b);
  }

  /** Whether `cost` more events for `key` stay within the limit (nothing is recorded). */
  allows(key: string, cost = 1): boolean {
    if (this.limit === 0) return true;
    return this.count(key) + cost <= this.limit;
  }

  /** Records `cost` events for `key` (also when over the limit: callers check first). */
  add(key: string, cost = 1): void {
    if (this.limit === 0) return;
    let b = this.#keys.get(key);
    if (b) {
      this.#keys.delete(key); // re-inserted below: Map order is the LRU order
      this.#roll(b);
    } else {
      b = { start: this.#bucketStart(), current: 0, previous: 0 };
      while (this.#keys.size >= this.#maxKeys) {
        const oldest = this.#keys.keys().next().value;
        if (oldest === undefined) break;
        this.#keys.delete(oldest);
      }
    }
    b.current += cost;
    this.#keys.set(key, b);
  }

  /** Records one event when it fits; true when it was recorded. */
  take(key: string, cost = 1): boolean {
    if (!this.allows(key, cost)) return false;
    this.add(key, cost);
    return true;
  }

  /** Forgets `key` (for example after a successful login). */
  delete(key: string): void {
    this.#keys.delete(key);
  }

  #bucketStart(): number {
    const now = this.#now();
    return now - (now % this.windowMs);
  }

  #roll(b: Buckets): void {
    const start = this.#bucketStart();
    if (start === b.start) return;
    b.previous = start - b.start === this.windowMs ? b.current : 0;
    b.current = 0;
    b.start = start;
  }

  #estimate(b: Buckets): number {
    const elapsed = this.#now() - b.start;
    const overlap = Math.max(0, (this.windowMs - elapsed) / this.windowMs);
    // Rounded up: right after a bucket rolls over, a burst just before it still counts in full.
    return b.current + Math.ceil(b.previous * overlap);
  }
}
