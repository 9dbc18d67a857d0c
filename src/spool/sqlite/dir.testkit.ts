/**
 * Tests' SQLite spools in temporary data dirs.
 *
 * `withDir`: spools on one dir; `open` makes an opened spool there (with `defaults`,
 * then the call's own options), and every spool opened is closed and the dir removed
 * afterwards, whatever the test did. `spoolFactory`: a fresh dir per spool, for the
 * shared conformance suite. `readDatabase`: a look at a closed spool's database.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import type { MakeSpool } from '../conformance-fixtures.ts';
import { DATABASE_FILE } from './engine.ts';
import { createSqliteSpool, type SqliteSpool, type SqliteSpoolOptions } from './index.ts';

/** A spool with `options` in a dir of its own, removed by `cleanup`. */
export function spoolFactory(options: Omit<SqliteSpoolOptions, 'dataDir'>): MakeSpool {
  return async () => {
    const dir = await mkdtemp(join(tmpdir(), 'mxpress-spool-'));
    return {
      spool: createSqliteSpool({ ...options, dataDir: join(dir, 'data') }),
      cleanup: () => rm(dir, { recursive: true, force: true }),
    };
  };
}

/** Runs `read` on the database of the closed spool in `dir`, opened read-only. */
export function readDatabase<T>(dir: string, read: (db: DatabaseSync) => T): T {
  const db = new DatabaseSync(join(dir, DATABASE_FILE), { readOnly: true });
  try {
    return read(db);
  } finally {
    db.close();
  }
}

export type OpenSpool = (extra?: Partial<SqliteSpoolOptions>) => Promise<SqliteSpool>;

export async function withDir(
  body: (dir: string, open: OpenSpool) => Promise<void>,
  defaults: Partial<SqliteSpoolOptions> = {},
): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'mxpress-spool-'));
  const spools: SqliteSpool[] = [];
  const open: OpenSpool = async (extra = {}) => {
    const spool = createSqliteSpool({ dataDir: dir, ...defaults, ...extra });
    spools.push(spool);
    await spool.open();
    return spool;
  };
  try {
    await body(dir, open);
  } finally {
    for (const spool of spools) await spool.close();
    await rm(dir, { recursive: true, force: true });
  }
}
