/**
 * Bodies of messages just accepted, kept in memory for their first delivery
 * attempt so it does not read back from the spool what was written a moment ago.
 *
 * In: `put(id, body, reads)` after the spool committed the message (`reads` is
 * how many first attempts will want it: one per destination domain). Out:
 * `take(id)` hands the bytes out until `reads` is used up, then forgets them; a
 * miss (evicted, retried later, restarted) is answered by the spool as before.
 * Bounded by bytes: the oldest entries go first, and a body larger than a
 * quarter of the budget is never kept. Holds no untrusted input beyond the
 * bytes themselves, which it never looks into.
 */
export class FreshBodies {
  readonly #maxBytes: number;
  readonly #entries = new Map<string, { body: Uint8Array; reads: number }>();
  #bytes = 0;

  constructor(maxBytes: number) {
    this.#maxBytes = maxBytes;
  }

  /** Bytes held now. */
  get bytes(): number {
    return this.#bytes;
  }

  get size(): number {
    return this.#entries.size;
  }

  put(id: string, body: Uint8Array, reads: number): void {
    if (reads < 1 || body.byteLength > this.#maxBytes / 4 || this.#entries.has(id)) return;
    this.#entries.set(id, { body, reads });
    this.#bytes += body.byteLength;
    // Map iteration is insertion order: the first entries are the oldest.
    for (const [oldest, entry] of this.#entries) {
      if (this.#bytes <= this.#maxBytes) break;
      this.#drop(oldest, entry.body);
    }
  }

  take(id: string): Uint8Array | undefined {
    const entry = this.#entries.get(id);
    if (entry === undefined) return undefined;
    entry.reads -= 1;
    if (entry.reads <= 0) this.#drop(id, entry.body);
    return entry.body;
  }

  #drop(id: string, body: Uint8Array): void {
    this.#entries.delete(id);
    this.#bytes -= body.byteLength;
  }
}
