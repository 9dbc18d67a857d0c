/**
 * The SQLite spool engine: runs batches of requests against one connection, with
 * every write of a batch in ONE transaction and ONE sync (group commit).
 *
 * In: a batch of `Request`s (the worker drains everything that arrived; the
 * in-process transport collects one turn of the event loop). Out: one `Reply` per
 * request, sent only after the transaction that holds its writes has committed.
 * Synchronous and blocking by design: it runs in a worker thread by default.
 *
 * Failure handling:
 *  - A batch first runs with no savepoints (the usual case: nothing fails). If any
 *    request fails, or COMMIT does, that transaction is rolled back whole and the
 *    batch runs again with each write request in its own savepoint:
 *  - A request that fails while the transaction survives is rolled back alone and
 *    rejected; the others go on.
 *  - If SQLite then drops the whole transaction (I/O, disk full) or COMMIT fails,
 *    every request whose writes were in it is rejected with that error and not tried
 *    a third time. The next request starts a fresh transaction on the same connection.
 *  - SQLITE_FULL / ENOSPC map to `full` (SPOOL_FULL), everything else to `io`.
 *  - On a disk with little room left, every write batch is checkpointed at once and
 *    the WAL truncated; after a `full`, writes wait for such a checkpoint and fail at
 *    once, appending nothing, until it succeeds (see #outOfRoom).
 * No untrusted input beyond bound parameters (see write-ops.ts, read-ops.ts).
 */
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, statfsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import {
  EngineError,
  LAZY_SYNC_OPS,
  type LogRecord,
  OP_KIND,
  type Reply,
  type ReplyBatch,
  type Request,
  type WireError,
} from './protocol.ts';
import { ReadOps } from './read-ops.ts';
import { configureConnection, migrate } from './schema.ts';
import { SearchParts } from './search-parts.ts';
import { WriteOps } from './write-ops.ts';

export interface EngineOptions {
  readonly dataDir: string;
  /** Upper bound on the database file; growth beyond it fails as SPOOL_FULL. */
  readonly maxDatabaseBytes?: number;
  /** Recipients per search part (search-parts.ts); tests make it small. */
  readonly searchPartRecipients?: number;
}

export const DATABASE_FILE = 'spool.sqlite';

const SQLITE_FULL = 13;

interface OpenState {
  readonly db: DatabaseSync;
  readonly writes: WriteOps;
  readonly reads: ReadOps;
}

/** Makes a directory's entries durable; filesystems that cannot fsync a directory are skipped. */
function syncDirectory(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    if (code !== 'EINVAL' && code !== 'ENOTSUP') throw error;
  } finally {
    closeSync(fd);
  }
}

export function toWireError(error: unknown): WireError {
  if (error instanceof EngineError) return { kind: error.kind, message: error.message };
  const { errcode, code, message } = (error ?? {}) as {
    errcode?: unknown;
    code?: unknown;
    message?: unknown;
  };
  const text = typeof message === 'string' ? message : String(error);
  const sqliteCode = typeof errcode === 'number' ? errcode : undefined;
  if ((sqliteCode !== undefined && (sqliteCode & 0xff) === SQLITE_FULL) || code === 'ENOSPC') {
    return { kind: 'full', message: text, sqliteCode };
  }
  return sqliteCode === undefined ? { kind: 'io', message: text } : { kind: 'io', message: text, sqliteCode };
}

/**
 * Checkpoint when idle at most this often, and under load at least this often (ms).
 * A checkpoint holds up the commits queued behind it, so under load small frequent
 * ones beat rare big ones: side by side at 900 msgs/s, DATA->250 p99 13-14 ms with
 * 400 ms against 16-20 ms with 2 s.
 */
const CHECKPOINT_IDLE_MS = 200;
const CHECKPOINT_BUSY_MS = 400;
/** How long the request queue must stay empty before `idle` is called. */
export const IDLE_CHECKPOINT_MS = 5;
/** After this many transactions the WAL is rewound to its start (RESTART checkpoint). */
const CHECKPOINT_RESTART_TRANSACTIONS = 1000;
/**
 * With less free space than this on the spool's disk (the default `minFreeBytes`,
 * below which new mail is refused anyway), each write batch is checkpointed at once
 * and the WAL truncated, so that what the WAL holds never needs more room to be
 * copied back than one batch. Read from the file system at most every SPACE_READ_MS.
 */
const LOW_SPACE_BYTES = 64 * 1024 * 1024;
const SPACE_READ_MS = 100;

export class SqliteEngine {
  readonly #options: EngineOptions;
  #state: OpenState | undefined;
  #closed = false;
  #groups = 0;
  #items = 0;
  #syncMode: 'FULL' | 'NORMAL' = 'FULL';
  /** The open's bookkeeping could not be written (full disk): retried before writes. */
  #startupPending = false;
  /** Write transactions since the last checkpoint. */
  #walWrites = 0;
  /**
   * A write or a checkpoint failed for want of space. A checkpoint copies the WAL's
   * pages into the database file, which may have to grow; while it cannot, the WAL
   * cannot be rewound either, and every transaction makes it longer. Left alone, a
   * full disk ends with a WAL holding more than the database has room to take back,
   * and a checkpoint that cannot finish still grows the database file into any space
   * freed later, leaving none for commits: the spool never recovers. So (besides
   * LOW_SPACE_BYTES, which keeps the WAL short before it comes to that) from a `full`
   * on, each write batch first checkpoints with TRUNCATE, which also hands the WAL's
   * space back, and until that succeeds writes fail as `full` without appending.
   */
  #outOfRoom = false;
  /** Less than LOW_SPACE_BYTES free at the last reading, taken at #spaceReadAt. */
  #lowSpace = false;
  #spaceReadAt = 0;
  #lastCheckpoint = Date.now();
  #logs: LogRecord[] = [];

  constructor(options: EngineOptions) {
    this.#options = options;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Called by the worker when no request is waiting: copies the WAL back into the
   * database while nobody waits for a reply. Under constant load it still runs every
   * few seconds, so the WAL stays bounded.
   */
  idle(force = false): void {
    const state = this.#state;
    if (state === undefined) return;
    const now = Date.now();
    if (this.#outOfRoom) {
      this.#makeRoom(state.db);
      return;
    }
    if (this.#walWrites === 0 || (!force && now - this.#lastCheckpoint < CHECKPOINT_IDLE_MS)) return;
    try {
      state.db.exec('PRAGMA wal_checkpoint(PASSIVE)');
      // Reuse the WAL from its start once everything in it is in the database.
      if (this.#walWrites > CHECKPOINT_RESTART_TRANSACTIONS) state.db.exec('PRAGMA wal_checkpoint(RESTART)');
    } catch (error) {
      const wire = toWireError(error);
      if (wire.kind === 'full') this.#outOfRoom = true;
      this.#log('spool checkpoint failed', wire);
    }
    this.#walWrites = 0;
    this.#lastCheckpoint = now;
  }

  /**
   * Copies the whole WAL into the database and truncates it (see #outOfRoom); true
   * once that succeeded and writes may append again.
   */
  #makeRoom(db: DatabaseSync): boolean {
    try {
      const result = db.prepare('PRAGMA wal_checkpoint(TRUNCATE)').get() as { busy?: number } | undefined;
      if (result?.busy !== 0) return false;
    } catch (error) {
      const wire = toWireError(error);
      if (wire.kind === 'full') this.#outOfRoom = true;
      else this.#log('spool checkpoint failed', wire);
      return false;
    }
    this.#outOfRoom = false;
    this.#walWrites = 0;
    this.#lastCheckpoint = Date.now();
    return true;
  }

  /** Reads whether the spool's disk is low on space (at most every SPACE_READ_MS). */
  #readSpace(): void {
    const now = Date.now();
    if (now - this.#spaceReadAt < SPACE_READ_MS) return;
    this.#spaceReadAt = now;
    try {
      const fs = statfsSync(this.#options.dataDir);
      this.#lowSpace = fs.bavail * fs.bsize < LOW_SPACE_BYTES;
    } catch {
      // Keep the last reading; a write that finds no room says so itself.
    }
  }

  /** True when a checkpoint should run even though requests are waiting. */
  get checkpointOverdue(): boolean {
    return this.#walWrites > 0 && Date.now() - this.#lastCheckpoint > CHECKPOINT_BUSY_MS;
  }

  runBatch(requests: readonly Request[]): ReplyBatch {
    const replies: Reply[] = [];
    let writes: Request[] = [];
    let reads: Request[] = [];
    const flush = (): void => {
      if (writes.length > 0) this.#runWrites(writes, replies);
      for (const request of reads) replies.push(this.#runRead(request));
      writes = [];
      reads = [];
    };
    for (const request of requests) {
      const kind = OP_KIND[request.op];
      if (kind === 'control') {
        flush();
        replies.push(this.#runControl(request));
      } else if (kind === 'write') {
        writes.push(request);
      } else {
        reads.push(request);
      }
    }
    flush();
    const logs = this.#logs;
    this.#logs = [];
    return { replies, groups: this.#groups, items: this.#items, logs };
  }

  #runControl(request: Request): Reply {
    try {
      if (request.op === 'open') this.#open();
      else if (request.op === 'close') this.#close();
      else throw new EngineError('invalid', `not a control op: ${request.op}`);
      return { id: request.id, ok: true, value: undefined };
    } catch (error) {
      return { id: request.id, ok: false, error: toWireError(error) };
    }
  }

  #open(): void {
    if (this.#closed) throw new EngineError('closed', 'spool closed');
    if (this.#state !== undefined) return;
    mkdirSync(this.#options.dataDir, { recursive: true });
    const path = join(this.#options.dataDir, DATABASE_FILE);
    const created = !existsSync(path);
    const db = new DatabaseSync(path, { timeout: 0 });
    try {
      configureConnection(db, this.#options.maxDatabaseBytes);
      const before = migrate(db);
      // SQLite syncs the directory for its WAL, not for a new database file or data dir.
      if (created) {
        syncDirectory(this.#options.dataDir);
        syncDirectory(dirname(this.#options.dataDir));
      }
      const parts = new SearchParts(db, this.#options.searchPartRecipients);
      const writes = new WriteOps(db, parts);
      const released = this.#startupWrites(db, () => writes.releaseAllLeases());
      this.#state = { db, writes, reads: new ReadOps(db, parts) };
      this.#logs.push({
        msg: 'spool opened',
        extra: { path, schemaBefore: before, leasesReleased: released ?? 'no: the disk is full' },
      });
    } catch (error) {
      db.close();
      throw error;
    }
  }

  /**
   * The bookkeeping of an open: release the previous run's leases (only here: later
   * every lease is this run's own) and mark the run as not cleanly stopped yet. On a
   * disk with no room left the spool still opens (mail already queued can be
   * delivered, freeing space, and new mail is refused at MAIL): the leases then
   * expire on their own and the mark is retried before the next write transaction.
   * Returns the leases released, or undefined when the disk was full.
   */
  #startupWrites(db: DatabaseSync, releaseLeases?: () => number): number | undefined {
    db.exec('BEGIN IMMEDIATE');
    try {
      const released = releaseLeases?.() ?? 0;
      skipSequenceAfterUncleanStop(db);
      db.exec('COMMIT');
      this.#startupPending = false;
      return released;
    } catch (error) {
      if (db.isTransaction) db.exec('ROLLBACK');
      if (toWireError(error).kind !== 'full') throw error;
      this.#startupPending = true;
      return undefined;
    }
  }

  #close(): void {
    this.#closed = true;
    const state = this.#state;
    this.#state = undefined;
    if (state === undefined) return;
    try {
      state.db.exec('PRAGMA synchronous = FULL');
      state.db.prepare("INSERT OR REPLACE INTO meta (key, value) VALUES ('clean_stop', '1')").run();
      state.db.exec('PRAGMA wal_checkpoint(TRUNCATE)');
    } catch (error) {
      this.#logs.push({ msg: 'spool checkpoint at close failed', extra: { error: toWireError(error) } });
    }
    state.db.close();
  }

  #runRead(request: Request): Reply {
    const state = this.#state;
    if (state === undefined) return this.#notOpen(request);
    try {
      return { id: request.id, ok: true, value: this.#read(state.reads, request) };
    } catch (error) {
      return { id: request.id, ok: false, error: toWireError(error) };
    }
  }

  #read(reads: ReadOps, request: Request): unknown {
    switch (request.op) {
      case 'getMessage':
        return reads.getMessage(...request.args);
      case 'readBody':
        return reads.readBody(...request.args);
      case 'list':
        return reads.list(...request.args);
      case 'attempts':
        return reads.attempts(...request.args);
      case 'eventsSince':
        return reads.eventsSince(...request.args);
      case 'stats':
        return reads.stats();
      default:
        throw new EngineError('invalid', `not a read op: ${request.op}`);
    }
  }

  #write(writes: WriteOps, request: Request): unknown {
    switch (request.op) {
      case 'commit':
        return writes.commit(...request.args);
      case 'claimDue':
        return writes.claimDue(...request.args);
      case 'update':
        return writes.update(...request.args);
      case 'release':
        return writes.release(...request.args);
      case 'setHeld':
        return writes.setHeld(...request.args);
      case 'retryNow':
        return writes.retryNow(...request.args);
      case 'cancel':
        return writes.cancel(...request.args);
      case 'purge':
        return writes.purge(...request.args);
      default:
        throw new EngineError('invalid', `not a write op: ${request.op}`);
    }
  }

  #notOpen(request: Request): Reply {
    return { id: request.id, ok: false, error: { kind: 'closed', message: 'spool not open' } };
  }

  /**
   * Applies `requests` in as few transactions as possible (one unless SQLite
   * drops a transaction midway) and pushes a reply for each.
   */
  #runWrites(requests: readonly Request[], replies: Reply[]): void {
    const state = this.#state;
    if (state === undefined) {
      for (const request of requests) replies.push(this.#notOpen(request));
      return;
    }
    const { db, writes } = state;
    if (this.#startupPending) {
      try {
        this.#startupWrites(db);
      } catch (error) {
        this.#log('spool startup bookkeeping failed', toWireError(error));
      }
    }
    this.#readSpace();
    if (this.#outOfRoom && !this.#makeRoom(db)) {
      const error: WireError = {
        kind: 'full',
        message: 'database or disk is full (the write-ahead log cannot be copied back into the database)',
      };
      for (const request of requests) replies.push({ id: request.id, ok: false, error });
      return;
    }
    if (!this.#runWritesAtOnce(db, writes, requests, replies)) {
      const first = replies.length;
      this.#runWritesOneByOne(db, writes, requests, replies);
      for (let i = first; i < replies.length && !this.#outOfRoom; i++) {
        const reply = replies[i]!;
        this.#outOfRoom = !reply.ok && reply.error.kind === 'full';
      }
    }
    if (this.#lowSpace && !this.#outOfRoom) this.#makeRoom(db);
  }

  /** The batch again, each request in its own savepoint, after the at-once attempt failed. */
  #runWritesOneByOne(
    db: DatabaseSync,
    writes: WriteOps,
    requests: readonly Request[],
    replies: Reply[],
  ): void {
    let next = 0;
    while (next < requests.length) {
      const applied: { id: number; value: unknown }[] = [];
      try {
        this.#syncFor(db, requests, next);
        db.exec('BEGIN IMMEDIATE');
      } catch (error) {
        // Cannot even start: fail what is left of this batch.
        const wire = toWireError(error);
        this.#log('spool transaction could not start', wire);
        for (const request of requests.slice(next)) replies.push({ id: request.id, ok: false, error: wire });
        return;
      }
      let lost: WireError | undefined;
      for (; next < requests.length && lost === undefined; next++) {
        const request = requests[next]!;
        const mark = writes.mark();
        db.exec('SAVEPOINT request');
        try {
          const value = this.#write(writes, request);
          db.exec('RELEASE request');
          applied.push({ id: request.id, value });
        } catch (error) {
          const wire = toWireError(error);
          replies.push({ id: request.id, ok: false, error: wire });
          writes.restore(mark);
          if (db.isTransaction) {
            try {
              db.exec('ROLLBACK TO request');
              db.exec('RELEASE request');
              continue;
            } catch (rollbackError) {
              this.#log('spool savepoint rollback failed', toWireError(rollbackError));
            }
          }
          lost = wire;
        }
      }
      if (lost === undefined) {
        try {
          writes.beforeCommit();
          db.exec('COMMIT');
          writes.committed();
        } catch (error) {
          lost = toWireError(error);
        }
      }
      if (lost !== undefined) {
        this.#log('spool transaction rolled back', lost, applied.length);
        writes.rolledBack();
        this.#rollbackQuietly(db);
        for (const done of applied) replies.push({ id: done.id, ok: false, error: lost });
        continue;
      }
      this.#committed(applied, replies);
    }
  }

  /** Counts one committed transaction and answers the requests it carried. */
  #committed(applied: readonly { id: number; value: unknown }[], replies: Reply[]): void {
    this.#groups += 1;
    this.#walWrites += 1;
    this.#items += applied.length;
    for (const done of applied) replies.push({ id: done.id, ok: true, value: done.value });
  }

  /**
   * The usual case: the whole batch in one transaction without savepoints (each
   * savepoint copies every page it touches that the batch already changed, a page
   * write per request). On any failure nothing is applied and it returns false: the
   * caller then runs the batch again request by request, each in its own savepoint,
   * so one bad request fails alone. What WriteOps holds outside the database follows
   * the transaction (`beforeCommit`, `committed`, `rolledBack`), so running a request
   * twice gives the same result.
   */
  #runWritesAtOnce(
    db: DatabaseSync,
    writes: WriteOps,
    requests: readonly Request[],
    replies: Reply[],
  ): boolean {
    try {
      this.#syncFor(db, requests, 0);
      db.exec('BEGIN IMMEDIATE');
    } catch {
      return false;
    }
    const applied: { id: number; value: unknown }[] = [];
    try {
      for (const request of requests) applied.push({ id: request.id, value: this.#write(writes, request) });
      writes.beforeCommit();
      db.exec('COMMIT');
      writes.committed();
    } catch {
      writes.rolledBack();
      this.#rollbackQuietly(db);
      return false;
    }
    this.#committed(applied, replies);
    return true;
  }

  /**
   * New mail must survive power loss before it is acknowledged, so a batch holding a
   * commit (or an operator action) syncs the WAL (`synchronous = FULL`). A batch of
   * delivery bookkeeping alone (updates, claims, releases) only appends to the WAL:
   * in WAL mode that survives a crash of the process, and the next synced commit
   * makes it durable too; a power cut could at worst replay an attempt, never lose
   * a message.
   */
  #syncFor(db: DatabaseSync, requests: readonly Request[], from: number): void {
    let full = false;
    for (let i = from; i < requests.length && !full; i++) full = !LAZY_SYNC_OPS.has(requests[i]!.op);
    const mode = full ? 'FULL' : 'NORMAL';
    if (mode === this.#syncMode) return;
    db.exec(`PRAGMA synchronous = ${mode}`);
    this.#syncMode = mode;
  }

  #rollbackQuietly(db: DatabaseSync): void {
    if (!db.isTransaction) return;
    try {
      db.exec('ROLLBACK');
    } catch (error) {
      this.#log('spool rollback failed', toWireError(error));
    }
  }

  #log(msg: string, error: WireError, requests?: number): void {
    this.#logs.push({ msg, extra: requests === undefined ? { error } : { error, requests } });
  }
}

/**
 * Delivery bookkeeping is written without a sync (see #syncFor), so a power cut can
 * lose its last events, and their seq numbers would then be handed out again to
 * different events. Stream and webhook consumers resume by seq, so after any stop
 * that was not clean the numbering jumps far past anything that may have been
 * handed out. The flag is cleared at open and set again by a clean close.
 */
const SEQ_SKIP_AFTER_UNCLEAN_STOP = 1_000_000;

function skipSequenceAfterUncleanStop(db: DatabaseSync): void {
  const row = db.prepare("SELECT value FROM meta WHERE key = 'clean_stop'").get() as
    | { value: string }
    | undefined;
  if (row?.value !== '1') {
    db.prepare("UPDATE sqlite_sequence SET seq = seq + ? WHERE name = 'events'").run(
      SEQ_SKIP_AFTER_UNCLEAN_STOP,
    );
  }
  db.prepare("INSERT OR REPLACE INTO meta (key, value) VALUES ('clean_stop', '0')").run();
}
