/**
 * Tests' SQLite spools on one temporary data dir: `open` makes an opened spool there
 * (with `defaults`, then the call's own options), and every spool opened is closed
 * and the dir removed afterwards, whatever the test did.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSqliteSpool, type SqliteSpool, type SqliteSpoolOptions } from './index.ts';

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
