/**
 * Crash test: a child process commits as fast as it can and prints each id only
 * after its commit resolved; we SIGKILL it at a seeded random moment, reopen the
 * spool and require every printed message with its exact body. Three rounds on
 * the same data dir, so recovery also runs on top of earlier recoveries.
 * Set SPOOL_CRASH_SEED to replay a run.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { it } from 'node:test';
import { seededRandom } from '../../../test/harness/prng.ts';
import { patternBytes } from '../conformance-fixtures.ts';
import { createSqliteSpool } from './index.ts';
import { type Committed, SpoolChild } from './testdata/child-process.ts';

const SEED = Number(process.env.SPOOL_CRASH_SEED ?? 0x5eed);
const ROUNDS = 3;

async function verify(dataDir: string, committed: readonly Committed[]): Promise<void> {
  const spool = createSqliteSpool({ dataDir, inProcess: true });
  await spool.open();
  try {
    for (const c of committed) {
      const body = await spool.readBody(c.id).catch((error: unknown) => {
        throw new Error(`message ${c.id} (seed ${c.seed}) lost after kill -9: ${String(error)}`);
      });
      assert.ok(Buffer.from(body).equals(patternBytes(c.length, c.seed)), `body of ${c.id} differs`);
    }
  } finally {
    await spool.close();
  }
}

it(`every commit that resolved survives SIGKILL (seed ${SEED}, ${ROUNDS} rounds)`, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'mxpress-crash-'));
  const random = seededRandom(SEED);
  const all: Committed[] = [];
  try {
    for (let round = 0; round < ROUNDS; round++) {
      const child = new SpoolChild({ dataDir: dir, firstSeed: 1 + round * 1_000_000 });
      await child.waitReady(15_000);
      const delayMs = 150 + Math.floor(random() * 900);
      await new Promise((resolve) => setTimeout(resolve, delayMs));
      child.kill();
      await child.waitExit(10_000);
      const committed = child.committed();
      t.diagnostic(
        `round ${round}: killed after ${delayMs} ms with ${committed.length} commits acknowledged`,
      );
      assert.ok(
        committed.length > 0,
        `round ${round}: nothing was committed before the kill; ${child.stderr}`,
      );
      all.push(...committed);
      await verify(dir, all);
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
