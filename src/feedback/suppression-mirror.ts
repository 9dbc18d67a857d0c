/**
 * A copy of the suppression index for another thread (the SMTP ingress thread),
 * which answers RCPT with the same refusal as the list itself without asking it.
 *
 * In: the list's `snapshot()` at start, then every `SuppressionChange` it announces
 * (`watch`), posted across the thread boundary in order. Out: `check`, the same
 * lookup as `SuppressionList.check` (`activeEntry`): keys are case-insensitive over
 * the whole address, a lapsed entry no longer counts, nothing is suppressed while the
 * list is disabled. Holds no more than the list does; entries are our own stored values.
 */
import type { SuppressionEntry } from '../contracts/feedback-store.ts';
import { activeEntry, type SuppressionChange } from './suppression.ts';

export class SuppressionMirror {
  readonly #enabled: boolean;
  readonly #now: () => number;
  readonly #index = new Map<string, SuppressionEntry>();

  constructor(options: { enabled: boolean; entries: readonly SuppressionEntry[]; now?: () => number }) {
    this.#enabled = options.enabled;
    this.#now = options.now ?? Date.now;
    for (const entry of options.entries) this.#index.set(entry.address, entry);
  }

  apply(change: SuppressionChange): void {
    for (const key of change.delete ?? []) this.#index.delete(key);
    for (const entry of change.set ?? []) this.#index.set(entry.address, entry);
  }

  /** The active entry for `address` (envelope form), or undefined. */
  check(address: string): SuppressionEntry | undefined {
    return this.#enabled ? activeEntry(this.#index, address, this.#now()) : undefined;
  }
}
