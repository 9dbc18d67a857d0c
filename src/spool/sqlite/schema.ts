/**
 * SQLite spool schema and its migrations.
 *
 * In: an open `DatabaseSync`. Out: the database at `SCHEMA_VERSION`, with the
 * connection pragmas set (WAL, synchronous=FULL, exclusive locking). Migrations
 * run inside one transaction each, so a crash mid-migration leaves the previous
 * version. A database newer than this code is refused (throws), never touched.
 * No untrusted input: every statement here is a constant.
 *
 * Layout (why):
 *  - `bodies` holds only the bytes, written once, deleted when nothing is pending;
 *    every other table holds small rows that attempts rewrite.
 *  - `recipients.due_at` is when a recipient can next be claimed: the next attempt
 *    time, or the lease expiry while leased. The partial index `recipients_due`
 *    covers exactly the claimable statuses, so `claimDue` is one index range scan
 *    that never steps over leased or final rows.
 *  - `counters` (message count, recipients per status, body bytes) is kept by the
 *    write operations themselves, so `stats()` and `open()` never scan a table.
 *    Version 1 kept the first two by triggers; a statement that fires a trigger
 *    writes to several tables, so SQLite copied every page it touched to a statement
 *    journal first (half of the spool's file writes). Version 2 drops them.
 *  - `recipients_address` and `messages_sender` serve the API's search by recipient and
 *    by sender. Keyed by address alone (versions 1 and 2), they took each new entry
 *    wherever its address sorts: in the lab's WAL (four addresses, one sender) 6.4 and
 *    2.4 pages per transaction of eight messages, and with addresses as varied as real
 *    mail's a leaf of its own per recipient, which beside a large history that has left
 *    the page cache is a disk read before the commit can finish (see bench/README.md,
 *    queue-scale). Version 3 leads both with a search part (search-parts.ts): a range of
 *    queue ids, of which new mail fills only the newest, so their new entries land in
 *    one small region as every other index's land at its right edge.
 */
import type { DatabaseSync } from 'node:sqlite';
import type { RecipientStatus } from '../../contracts/status.ts';

export const SCHEMA_VERSION = 3;

export const ALL_STATUSES: readonly RecipientStatus[] = [
  'queued',
  'deferred',
  'delivered',
  'bounced',
  'expired',
  'suppressed',
  'cancelled',
];

const statusCounterRows = ALL_STATUSES.map((status) => `('status:${status}', 0)`).join(', ');

/** Index i holds the SQL that takes the schema from version i to i + 1. */
const MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE messages (
    id TEXT PRIMARY KEY NOT NULL,
    received_at INTEGER NOT NULL,
    mail_from TEXT NOT NULL,
    envelope TEXT NOT NULL,
    origin TEXT NOT NULL,
    headers TEXT NOT NULL,
    tags TEXT NOT NULL,
    size INTEGER NOT NULL,
    pending INTEGER NOT NULL,
    has_body INTEGER NOT NULL
  );
  CREATE INDEX messages_sender ON messages (mail_from, id);

  CREATE TABLE bodies (
    id TEXT PRIMARY KEY NOT NULL,
    data BLOB NOT NULL
  );

  CREATE TABLE recipients (
    message_id TEXT NOT NULL,
    idx INTEGER NOT NULL,
    address TEXT NOT NULL,
    domain TEXT NOT NULL,
    notify TEXT,
    orcpt TEXT,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    due_at INTEGER NOT NULL,
    lease_owner TEXT,
    lease_until INTEGER NOT NULL DEFAULT 0,
    held INTEGER NOT NULL DEFAULT 0,
    last_reply TEXT,
    last_error_code TEXT,
    route TEXT,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (message_id, idx)
  ) WITHOUT ROWID;
  CREATE INDEX recipients_due ON recipients (due_at)
    WHERE status IN ('queued', 'deferred') AND held = 0;
  CREATE INDEX recipients_leased ON recipients (lease_owner) WHERE lease_owner IS NOT NULL;
  CREATE INDEX recipients_address ON recipients (address, message_id);

  CREATE TABLE attempts (
    message_id TEXT NOT NULL,
    idx INTEGER NOT NULL,
    n INTEGER NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (message_id, idx, n)
  ) WITHOUT ROWID;

  CREATE TABLE events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    at INTEGER NOT NULL,
    message_id TEXT NOT NULL,
    type TEXT NOT NULL,
    data TEXT NOT NULL
  );

  CREATE TABLE counters (
    name TEXT PRIMARY KEY NOT NULL,
    value INTEGER NOT NULL
  ) WITHOUT ROWID;
  INSERT INTO counters (name, value) VALUES ('messages', 0), ('body_bytes', 0), ${statusCounterRows};

  CREATE TRIGGER messages_count_insert AFTER INSERT ON messages BEGIN
    UPDATE counters SET value = value + 1 WHERE name = 'messages';
  END;
  CREATE TRIGGER messages_count_delete AFTER DELETE ON messages BEGIN
    UPDATE counters SET value = value - 1 WHERE name = 'messages';
  END;
  CREATE TRIGGER recipients_count_insert AFTER INSERT ON recipients BEGIN
    UPDATE counters SET value = value + 1 WHERE name = 'status:' || NEW.status;
  END;
  CREATE TRIGGER recipients_count_update AFTER UPDATE OF status ON recipients
    WHEN OLD.status IS NOT NEW.status BEGIN
    UPDATE counters SET value = value - 1 WHERE name = 'status:' || OLD.status;
    UPDATE counters SET value = value + 1 WHERE name = 'status:' || NEW.status;
  END;
  CREATE TRIGGER recipients_count_delete AFTER DELETE ON recipients BEGIN
    UPDATE counters SET value = value - 1 WHERE name = 'status:' || OLD.status;
  END;
  `,
  `
  DROP TRIGGER messages_count_insert;
  DROP TRIGGER messages_count_delete;
  DROP TRIGGER recipients_count_insert;
  DROP TRIGGER recipients_count_update;
  DROP TRIGGER recipients_count_delete;
  `,
  `
  ALTER TABLE messages ADD COLUMN part INTEGER NOT NULL DEFAULT 0;
  ALTER TABLE recipients ADD COLUMN part INTEGER NOT NULL DEFAULT 0;
  DROP INDEX messages_sender;
  DROP INDEX recipients_address;
  CREATE INDEX messages_sender ON messages (part, mail_from, id);
  CREATE INDEX recipients_address ON recipients (part, address, message_id);
  CREATE TABLE search_parts (
    n INTEGER PRIMARY KEY,
    first_id TEXT NOT NULL UNIQUE
  );
  INSERT INTO search_parts (n, first_id) VALUES (0, '');
  `,
];

/**
 * Connection settings. Exclusive locking makes a second process (or a second
 * spool in this process) on the same data dir fail at open instead of sharing
 * leases it believes are all its own.
 */
export function configureConnection(db: DatabaseSync, maxDatabaseBytes: number | undefined): void {
  db.exec('PRAGMA locking_mode = EXCLUSIVE');
  const mode = db.prepare('PRAGMA journal_mode = WAL').get() as { journal_mode?: string } | undefined;
  if (mode?.journal_mode !== 'wal') throw new Error(`could not enable WAL (got ${mode?.journal_mode})`);
  db.exec('PRAGMA synchronous = FULL');
  db.exec('PRAGMA foreign_keys = OFF');
  // temp_store stays at its default (files): holding statement and savepoint undo
  // pages in memory left the process 110 MiB larger after filling a 1M-message
  // backlog (527 MiB against 413 MiB), over the 500 MB budget for that queue. The
  // usual write path needs neither (engine.ts, write-ops.ts).
  // Keep the WAL from staying large after a burst (bytes).
  db.exec('PRAGMA journal_size_limit = 67108864');
  // Checkpoints are run by the engine between batches (SqliteEngine.idle), not inside
  // a commit that a waiting SMTP client is timing.
  db.exec('PRAGMA wal_autocheckpoint = 0');
  if (maxDatabaseBytes !== undefined) {
    const pageSize = (db.prepare('PRAGMA page_size').get() as { page_size: number }).page_size;
    const pages = Math.max(1, Math.floor(maxDatabaseBytes / pageSize));
    db.exec(`PRAGMA max_page_count = ${pages}`);
  }
}

/**
 * Brings the schema to `target` (`SCHEMA_VERSION`; tests build older versions);
 * returns the version found before.
 */
export function migrate(db: DatabaseSync, target: number = SCHEMA_VERSION): number {
  db.exec('BEGIN IMMEDIATE');
  let found: number;
  try {
    db.exec('CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY NOT NULL, value TEXT NOT NULL)');
    const row = db.prepare("SELECT value FROM meta WHERE key = 'schema_version'").get() as
      | { value: string }
      | undefined;
    found = row === undefined ? 0 : Number(row.value);
    if (!Number.isInteger(found) || found < 0) throw new Error(`bad schema_version ${row?.value}`);
    if (found > SCHEMA_VERSION) {
      throw new Error(`spool schema version ${found} is newer than this build (${SCHEMA_VERSION})`);
    }
    db.exec('COMMIT');
  } catch (error) {
    if (db.isTransaction) db.exec('ROLLBACK');
    throw error;
  }
  for (let version = found; version < target; version++) {
    db.exec('BEGIN IMMEDIATE');
    try {
      db.exec(MIGRATIONS[version]!);
      db.prepare("INSERT OR REPLACE INTO meta (key, value) VALUES ('schema_version', ?)").run(
        String(version + 1),
      );
      db.exec('COMMIT');
    } catch (error) {
      if (db.isTransaction) db.exec('ROLLBACK');
      throw error;
    }
  }
  return found;
}
