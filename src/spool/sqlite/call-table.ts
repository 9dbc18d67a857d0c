/**
 * Calls awaiting their reply, by the id this table hands out (1, 2, 3, ...).
 *
 * In: a value to hold until its call is answered. Out: its id, then the value once,
 * by that id. No untrusted input: ids come back from the spool's own thread.
 *
 * A ring of slots indexed by id, not a Map. A long-lived Map that gains and loses an
 * entry per call ends up in V8's old generation, and each of its rehashes leaves the
 * retired table pointing at the new one; the young-generation collector counts every
 * pointer out of the old generation as live, so every value such a Map ever held (the
 * caller's promise, and through it the message) survived and was promoted, to be
 * found dead only by the next full collection. Slots here are cleared as calls are
 * answered, and the ring is only replaced when it grows. Ids are handed out in order
 * and answered about in order; the ring doubles when the oldest unanswered call is a
 * whole ring behind the next id.
 */
export class CallTable<T extends object> {
  #slots: (T | undefined)[];
  #next = 1;
  /** No id below this is held. */
  #oldest = 1;
  #size = 0;

  constructor(capacity = 64) {
    let size = 1;
    while (size < capacity) size *= 2;
    this.#slots = new Array<T | undefined>(size).fill(undefined);
  }

  /** Calls held (added and not taken). */
  get size(): number {
    return this.#size;
  }

  /** Holds `value`; returns its id. */
  add(value: T): number {
    if (this.#next - this.#oldest >= this.#slots.length) this.#grow();
    const id = this.#next++;
    this.#slots[id & (this.#slots.length - 1)] = value;
    this.#size += 1;
    return id;
  }

  /** The value held for `id`, which is held no longer; undefined for an id not held. */
  take(id: number): T | undefined {
    if (!Number.isSafeInteger(id) || id < this.#oldest || id >= this.#next) return undefined;
    const slots = this.#slots;
    const mask = slots.length - 1;
    const value = slots[id & mask];
    if (value === undefined) return undefined;
    slots[id & mask] = undefined;
    this.#size -= 1;
    while (this.#oldest < this.#next && slots[this.#oldest & mask] === undefined) this.#oldest += 1;
    return value;
  }

  /** The ids held, oldest first. */
  ids(): number[] {
    const out: number[] = [];
    const mask = this.#slots.length - 1;
    for (let id = this.#oldest; id < this.#next; id++) if (this.#slots[id & mask] !== undefined) out.push(id);
    return out;
  }

  #grow(): void {
    const old = this.#slots;
    const oldMask = old.length - 1;
    const slots = new Array<T | undefined>(old.length * 2).fill(undefined);
    const mask = slots.length - 1;
    for (let id = this.#oldest; id < this.#next; id++) slots[id & mask] = old[id & oldMask];
    this.#slots = slots;
  }
}
