/**
 * Search parts: where the spool's search indexes take their new entries.
 *
 * The API searches the history by recipient address and by sender. An index keyed by
 * address alone takes each new entry wherever its address sorts: with addresses as
 * varied as real mail's, every commit then writes a leaf of its own somewhere in the
 * whole history, and once that history has left the page cache, reads it from disk
 * first. Beside a backlog of a million messages that halved the commit rate.
 *
 * So both indexes lead with a part number (`recipients_address` on (part, address,
 * message_id), `messages_sender` on (part, mail_from, id)). Parts split the queue-id
 * space into ranges: part i holds the ids from its `firstId` up to the next part's,
 * and the lowest part everything below. New mail has the newest ids, so it lands in
 * the newest part, a region of at most about `size` recipients that stays cached
 * while mail flows; a new part starts once the newest holds `size`. A search walks
 * the parts newest first with one index probe each, so its results come out in id
 * order and it stops as soon as it has a page. The price is a probe per part for a
 * search that finds less than a page: measured on a 2-core VM, a history of 1M
 * messages (62 parts) answered such a search in 1.2 to 2.4 ms (15 ms with a cold page
 * cache), and one of 10M messages (611 parts) in 17 to 20 ms (131 ms cold). Beyond
 * that, merging old parts would bound the probes.
 *
 * In: an open database at schema version 3 or later, and the ids of new messages
 * (already validated). Changes to the `search_parts` table happen in the caller's
 * transaction; the copy held here is reloaded from the table after a rollback
 * (`mark`/`restore` around a savepoint, `settle` after COMMIT, `drop` after a
 * rollback, called through WriteOps' transaction calls). Throws SQLite errors as
 * they come.
 */
import type { DatabaseSync, StatementSync } from 'node:sqlite';

/** Recipients per part. About 1 MB of index entries: small enough to stay cached. */
export const PART_RECIPIENTS = 16_384;

export interface SearchPart {
  readonly n: number;
  /** The smallest id this part holds ('' for the first part ever). */
  readonly firstId: string;
}

export class SearchParts {
  readonly #size: number;
  readonly #all: StatementSync;
  readonly #insert: StatementSync;
  readonly #delete: StatementSync;
  readonly #countIn: StatementSync;
  readonly #anyIn: StatementSync;
  readonly #maxId: StatementSync;
  /** Ascending by firstId (and by n). Never empty once loaded. */
  #parts: SearchPart[] = [];
  /**
   * Recipients placed in the newest part. A placement whose transaction is rolled back
   * without adding a part still counts (only a changed part list reloads): the part
   * then starts a little early, which no search can tell.
   */
  #inNewest = 0;
  /** The largest id placed so far (rolled-back ones too): a new part starts only above it. */
  #maxPlaced = '';
  /** Changes made here, ever (a load does not reset it); a mark is its value at a savepoint. */
  #changes = 0;
  /** `#changes` when the last transaction committed. */
  #changesAtSettle = 0;
  #stale = true;

  constructor(db: DatabaseSync, size: number = PART_RECIPIENTS) {
    if (!Number.isInteger(size) || size < 1) throw new RangeError(`search part size ${size}`);
    this.#size = size;
    this.#all = db.prepare('SELECT n, first_id AS firstId FROM search_parts ORDER BY first_id');
    this.#insert = db.prepare('INSERT INTO search_parts (n, first_id) VALUES (?, ?)');
    this.#delete = db.prepare('DELETE FROM search_parts WHERE n = ?');
    this.#countIn = db.prepare('SELECT count(*) AS n FROM recipients WHERE part = ?');
    this.#anyIn = db.prepare('SELECT 1 FROM messages WHERE part = ? LIMIT 1');
    this.#maxId = db.prepare('SELECT max(id) AS id FROM messages');
  }

  /**
   * The part for a new message with `recipients` recipients. Starts a new part (a row
   * in the caller's transaction) when the newest is full and `id` is above every id
   * placed so far; an id below that (a late commit) goes to the part whose range holds it.
   */
  place(id: string, recipients: number): number {
    this.#load();
    let newest = this.#parts.at(-1)!;
    if (this.#inNewest >= this.#size && id > this.#maxPlaced) {
      newest = { n: newest.n + 1, firstId: id };
      this.#insert.run(newest.n, newest.firstId);
      this.#parts.push(newest);
      this.#inNewest = 0;
      this.#changes += 1;
    }
    if (id > this.#maxPlaced) this.#maxPlaced = id;
    if (id >= newest.firstId) {
      this.#inNewest += recipients;
      return newest.n;
    }
    return this.#holding(id).n;
  }

  /** The parts that may hold ids below `before` (all when undefined), newest first. */
  newestFirst(before?: string): SearchPart[] {
    this.#load();
    const parts = this.#parts;
    let end = parts.length;
    // The lowest part also holds every id below its firstId, so it always stays.
    if (before !== undefined) while (end > 1 && parts[end - 1]!.firstId >= before) end -= 1;
    return parts.slice(0, end).reverse();
  }

  /**
   * Drops the parts whose whole range is below `beforeId` and which no message holds
   * any more (history purged), so searches do not probe them; the newest part stays.
   */
  prune(beforeId: string): void {
    this.#load();
    for (let i = 0; i < this.#parts.length - 1; ) {
      const part = this.#parts[i]!;
      if (this.#parts[i + 1]!.firstId > beforeId) break;
      if (this.#anyIn.get(part.n) !== undefined) {
        i += 1;
        continue;
      }
      this.#delete.run(part.n);
      this.#parts.splice(i, 1);
      this.#changes += 1;
    }
  }

  /** The state to return to when a savepoint is rolled back. */
  mark(): number {
    return this.#changes;
  }

  /** A savepoint was rolled back: reload from the table if anything changed since `mark`. */
  restore(mark: number): void {
    if (this.#changes !== mark) this.#stale = true;
  }

  /** The transaction committed: what is held here is what the table holds. */
  settle(): void {
    this.#changesAtSettle = this.#changes;
  }

  /** The transaction was rolled back: reload from the table if it changed anything. */
  drop(): void {
    if (this.#changes !== this.#changesAtSettle) this.#stale = true;
  }

  /** The part whose range holds `id`: the last with firstId <= id, or the lowest. */
  #holding(id: string): SearchPart {
    const parts = this.#parts;
    let low = 0;
    let high = parts.length - 1;
    while (low < high) {
      const mid = (low + high + 1) >> 1;
      if (parts[mid]!.firstId <= id) low = mid;
      else high = mid - 1;
    }
    return parts[low]!;
  }

  #load(): void {
    if (!this.#stale) return;
    this.#parts = this.#all.all() as unknown as SearchPart[];
    if (this.#parts.length === 0) throw new Error('search_parts is empty: the spool schema is damaged');
    const newest = this.#parts.at(-1)!;
    this.#inNewest = Number((this.#countIn.get(newest.n) as { n: number }).n);
    this.#maxPlaced = (this.#maxId.get() as { id: string | null }).id ?? '';
    this.#stale = false;
  }
}
