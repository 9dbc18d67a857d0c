/**
 * Tests' SQLite spool in a worker thread, as the runtime runs it, on a temporary data
 * dir: with what its owner hears (`stored` events, `handedOver` messages from clients
 * in other threads), closed and removed afterwards.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { LifecycleEvent } from '../../contracts/events.ts';
import { createSqliteSpool } from './index.ts';
import type { HandedOver } from './protocol.ts';

export interface OwnedSpool {
  readonly spool: ReturnType<typeof createSqliteSpool>;
  readonly stored: LifecycleEvent[];
  readonly handedOver: HandedOver[];
}

export async function withSpool(body: (ctx: OwnedSpool) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'mxpress-spool-'));
  const stored: LifecycleEvent[] = [];
  const handedOver: HandedOver[] = [];
  const spool = createSqliteSpool({
    dataDir: dir,
    onStored: (events) => stored.push(...events),
    onHandedOver: (messages) => handedOver.push(...messages),
  });
  await spool.open();
  try {
    await body({ spool, stored, handedOver });
  } finally {
    await spool.close();
    await rm(dir, { recursive: true, force: true });
  }
}
