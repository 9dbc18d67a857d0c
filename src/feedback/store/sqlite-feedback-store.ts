/**
 * The embedded feedback store: suppression entries and webhook cursors in SQLite.
 *
 * In: a data directory; the database is `<dataDir>/feedback.sqlite`, separate from the
 * spool so feedback writes never wait behind message commits (WAL, synchronous=FULL,
 * exclusively locked: one server per data dir). Out: the `FeedbackStore` contract
 * (contracts/feedback-store.ts). Runs on the calling thread: the volume is low (an
 * operator edit, a hard bounce, one cursor write per webhook delivery), so each call
 * is a short synchronous transaction wrapped in a promise. Every failure (I/O, full
 * disk, closed store) rejects with the underlying Error; nothing is retried here.
 * Values reach SQL only as bound parameters; no untrusted input is interpreted.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { DatabaseSync, type StatementSync } from 'node:sqlite';
import type {
  FeedbackStore,
  SuppressionEntry,
  SuppressionPage,
  WebhookCursor,
} from '../../contracts/feedback-store.ts';

export const FEEDBACK_DATABASE_FILE = 'feedback.sqlite';
const SCHEMA_VERSION = 1;
/** Upper bound on one `listSuppressions` page. */
export const MAX_PAGE = 10_000;

const SCHEMA = `
  CREATE TABLE suppressions (
    address TEXT PRIMARY KEY NOT NULL,
    reason TEXT NOT NULL,
    message_id TEXT,
    created_at INTEGER NOT NULL,
    expires_at INTEGER
  ) WITHOUT ROWID;
  CREATE INDEX suppressions_expiry ON suppressions (expires_at) WHERE expires_at IS NOT NULL;
  CREATE TABLE webhook_cursors (
    webhook_id TEXT PRIMARY KEY NOT NULL,
    last_seq INTEGER NOT NULL,
    attempts INTEGER NOT NULL,
    next_attempt_at INTEGER NOT NULL,
    last_error TEXT,
    last_success_at INTEGER,
    updated_at INTEGER NOT NULL
  ) WITHOUT ROWID;
`;

interface SuppressionRow {
  address: string;
  reason: string;
  message_id: string | null;
  created_at: number;
  expires_at: number | null;
}

interface CursorRow {
  webhook_id: string;
  last_seq: number;
  attempts: number;
  next_attempt_at: number;
  last_error: string | null;
  last_success_at: number | null;
  updated_at: number;
}

function toEntry(row: SuppressionRow): SuppressionEntry {
  return {
    address: row.address,
    reason: row.reason,
    ...(row.message_id === null ? {} : { messageId: row.message_id }),
    createdAt: row.created_at,
    ...(row.expires_at === null ? {} : { expiresAt: row.expires_at }),
  };
}

function toCursor(row: CursorRow): WebhookCursor {
  return {
    webhookId: row.webhook_id,
    lastSeq: row.last_seq,
    attempts: row.attempts,
    nextAttemptAt: row.next_attempt_at,
    ...(row.last_error === null ? {} : { lastError: row.last_error }),
    ...(row.last_success_at === null ? {} : { lastSuccessAt: row.last_success_at }),
    updatedAt: row.updated_at,
  };
}

interface Statements {
  readonly getSuppression: StatementSync;
  readonly upsertSuppression: StatementSync;
  readonly deleteSuppression: StatementSync;
  readonly pageFirst: StatementSync;
  readonly pageAfter: StatementSync;
  readonly deleteExpired: StatementSync;
  readonly getCursor: StatementSync;
  readonly putCursor: StatementSync;
}

const ACTIVE = '(expires_at IS NULL OR expires_at > ?)';

function prepare(db: DatabaseSync): Statements {
  return {
    getSuppression: db.prepare('SELECT * FROM suppressions WHERE address = ?'),
    upsertSuppression: db.prepare(
      `INSERT INTO suppressions (address, reason, message_id, created_at, expires_at) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (address) DO UPDATE SET reason = excluded.reason, message_id = excluded.message_id,
         created_at = excluded.created_at, expires_at = excluded.expires_at`,
    ),
    deleteSuppression: db.prepare('DELETE FROM suppressions WHERE address = ?'),
    pageFirst: db.prepare(`SELECT * FROM suppressions WHERE ${ACTIVE} ORDER BY address LIMIT ?`),
    pageAfter: db.prepare(
      `SELECT * FROM suppressions WHERE address > ? AND ${ACTIVE} ORDER BY address LIMIT ?`,
    ),
    deleteExpired: db.prepare('DELETE FROM suppressions WHERE expires_at IS NOT NULL AND expires_at <= ?'),
    getCursor: db.prepare('SELECT * FROM webhook_cursors WHERE webhook_id = ?'),
    putCursor: db.prepare(
      `INSERT INTO webhook_cursors
         (webhook_id, last_seq, attempts, next_attempt_at, last_error, last_success_at, updated_at)
       VALUES (?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (webhook_id) DO UPDATE SET last_seq = excluded.last_seq, attempts = excluded.attempts,
         next_attempt_at = excluded.next_attempt_at, last_error = excluded.last_error,
         last_success_at = excluded.last_success_at, updated_at = excluded.updated_at`,
    ),
  };
}

function migrate(db: DatabaseSync): void {
  db.exec('BEGIN IMMEDIATE');
  try {
    db.exec('CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY NOT NULL, value TEXT NOT NULL)');
    const row = db.prepare("SELECT value FROM meta WHERE key = 'schema_version'").get() as
      | { value: string }
      | undefined;
    const found = row === undefined ? 0 : Number(row.value);
    if (found > SCHEMA_VERSION) {
      throw new Error(`${FEEDBACK_DATABASE_FILE} has schema ${found}; this build knows ${SCHEMA_VERSION}`);
    }
    if (found === 0) {
      db.exec(SCHEMA);
      db.prepare("INSERT INTO meta (key, value) VALUES ('schema_version', ?)").run(String(SCHEMA_VERSION));
    }
    db.exec('COMMIT');
  } catch (error) {
    db.exec('ROLLBACK');
    throw error;
  }
}

export class SqliteFeedbackStore implements FeedbackStore {
  readonly #dataDir: string;
  #db: DatabaseSync | undefined;
  #statements: Statements | undefined;

  constructor(options: { readonly dataDir: string }) {
    this.#dataDir = options.dataDir;
  }

  get path(): string {
    return join(this.#dataDir, FEEDBACK_DATABASE_FILE);
  }

  async open(): Promise<void> {
    if (this.#db) throw new Error('feedback store already open');
    mkdirSync(this.#dataDir, { recursive: true });
    const db = new DatabaseSync(this.path);
    try {
      db.exec('PRAGMA locking_mode = EXCLUSIVE');
      const mode = db.prepare('PRAGMA journal_mode = WAL').get() as { journal_mode?: string } | undefined;
      if (mode?.journal_mode !== 'wal') throw new Error(`could not enable WAL (got ${mode?.journal_mode})`);
      db.exec('PRAGMA synchronous = FULL');
      db.exec('PRAGMA busy_timeout = 5000');
      migrate(db);
      this.#statements = prepare(db);
    } catch (error) {
      db.close();
      throw error;
    }
    this.#db = db;
  }

  async close(): Promise<void> {
    const db = this.#db;
    this.#db = undefined;
    this.#statements = undefined;
    db?.close();
  }

  #open(): { db: DatabaseSync; s: Statements } {
    if (!this.#db || !this.#statements) throw new Error('feedback store is not open');
    return { db: this.#db, s: this.#statements };
  }

  async getSuppression(address: string): Promise<SuppressionEntry | undefined> {
    const row = this.#open().s.getSuppression.get(address) as SuppressionRow | undefined;
    return row === undefined ? undefined : toEntry(row);
  }

  async putSuppressions(entries: readonly SuppressionEntry[]): Promise<number> {
    const { db, s } = this.#open();
    let added = 0;
    db.exec('BEGIN IMMEDIATE');
    try {
      for (const e of entries) {
        if (s.getSuppression.get(e.address) === undefined) added++;
        s.upsertSuppression.run(e.address, e.reason, e.messageId ?? null, e.createdAt, e.expiresAt ?? null);
      }
      db.exec('COMMIT');
    } catch (error) {
      if (db.isTransaction) db.exec('ROLLBACK');
      throw error;
    }
    return added;
  }

  async deleteSuppression(address: string): Promise<boolean> {
    return Number(this.#open().s.deleteSuppression.run(address).changes) > 0;
  }

  async listSuppressions(page: SuppressionPage): Promise<SuppressionEntry[]> {
    const { s } = this.#open();
    const limit = Math.max(0, Math.min(MAX_PAGE, Math.floor(page.limit)));
    const activeAt = page.activeAt ?? -1;
    const rows = (page.after === undefined
      ? s.pageFirst.all(activeAt, limit)
      : s.pageAfter.all(page.after, activeAt, limit)) as unknown as SuppressionRow[];
    return rows.map(toEntry);
  }

  async deleteExpiredSuppressions(now: number): Promise<number> {
    return Number(this.#open().s.deleteExpired.run(now).changes);
  }

  async getCursor(webhookId: string): Promise<WebhookCursor | undefined> {
    const row = this.#open().s.getCursor.get(webhookId) as CursorRow | undefined;
    return row === undefined ? undefined : toCursor(row);
  }

  async putCursor(c: WebhookCursor): Promise<void> {
    this.#open().s.putCursor.run(
      c.webhookId,
      c.lastSeq,
      c.attempts,
      c.nextAttemptAt,
      c.lastError ?? null,
      c.lastSuccessAt ?? null,
      c.updatedAt,
    );
  }
}
