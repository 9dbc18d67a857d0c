/**
 * A bounded least-recently-used cache whose entries expire.
 *
 * In: a maximum entry count (0 disables the cache) and a clock in milliseconds.
 * `set` takes a lifetime; lifetimes <= 0 are not stored. When full, the least
 * recently read or written entry is evicted. Holds only values we computed; no
 * untrusted input beyond the keys. Cannot fail.
 */
export class TtlCache<V> {
  readonly #maxEntries: number;
  readonly #now: () => number;
  // Map iteration order is insertion order: re-inserting on use keeps the LRU entry first.
  readonly #entries = new Map<string, { value: V; expiresAt: number }>();

  constructor(maxEntries: number, now: () => number) {
    this.#maxEntries = Math.max(0, Math.floor(maxEntries));
    this.#now = now;
  }

  get(key: string): V | undefined {
    const entry = this.#entries.get(key);
    if (entry === undefined) return undefined;
    this.#entries.delete(key);
    if (entry.expiresAt <= this.#now()) return undefined;
    this.#entries.set(key, entry);
    return entry.value;
  }

  set(key: string, value: V, ttlMs: number): void {
    if (this.#maxEntries === 0 || !(ttlMs > 0)) return;
    this.#entries.delete(key);
    this.#entries.set(key, { value, expiresAt: this.#now() + ttlMs });
    while (this.#entries.size > this.#maxEntries) {
      const oldest = this.#entries.keys().next();
      if (oldest.done) break;
      this.#entries.delete(oldest.value);
    }
  }

  get size(): number {
    return this.#entries.size;
  }
}
