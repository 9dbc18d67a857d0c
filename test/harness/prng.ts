/**
 * The seeded generator every randomized test uses (mulberry32): the same seed gives
 * the same inputs and the same moments, so a failure can be replayed. Returns [0, 1).
 */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The helpers the fuzzers draw with, over one `seededRandom` stream. */
export class SeededRandom {
  readonly #next: () => number;
  constructor(seed: number) {
    this.#next = seededRandom(seed);
  }
  /** A whole number in [0, max). */
  int(max: number): number {
    return Math.floor(this.#next() * max);
  }
  chance(p: number): boolean {
    return this.#next() < p;
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }
}
