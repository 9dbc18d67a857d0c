/**
 * Micro benchmark: commit throughput of the SQLite spool with group commit.
 *
 * 32 concurrent committers each commit 4 KB messages (one recipient) in a loop
 * for about 3 s against a fresh spool in a temp dir; prints commits/s, the mean
 * group size (write requests per transaction, i.e. per sync) and the latency
 * of a commit. `--in-process` runs SQLite on the main thread instead of the worker.
 * Usage: npx node bench/spool-commit.ts [--in-process] [--seconds N] [--committers N]
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { makeMessage, patternBytes } from '../src/spool/conformance-fixtures.ts';
import { createSqliteSpool } from '../src/spool/sqlite/index.ts';

const { values } = parseArgs({
  options: {
    'in-process': { type: 'boolean', default: false },
    seconds: { type: 'string', default: '3' },
    committers: { type: 'string', default: '32' },
  },
});
const seconds = Number(values.seconds);
const committers = Number(values.committers);
const inProcess = values['in-process'] === true;
const template = patternBytes(4096, 1);

const dir = await mkdtemp(join(tmpdir(), 'mxpress-bench-'));
const spool = createSqliteSpool({ dataDir: dir, inProcess });
await spool.open();
try {
  const latencies: number[] = [];
  const deadline = performance.now() + seconds * 1000;
  const start = performance.now();
  const before = spool.commitGroups();
  let commits = 0;
  await Promise.all(
    Array.from({ length: committers }, async () => {
      while (performance.now() < deadline) {
        // A fresh buffer per message: commit takes ownership (transfer, no copy).
        const message = makeMessage({ receivedAt: Date.now(), body: Uint8Array.from(template) });
        const t0 = performance.now();
        await spool.commit(message);
        latencies.push(performance.now() - t0);
        commits += 1;
      }
    }),
  );
  const elapsed = (performance.now() - start) / 1000;
  const after = spool.commitGroups();
  const groups = after.groups - before.groups;
  latencies.sort((a, b) => a - b);
  const pct = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] ?? 0;
  console.log(
    JSON.stringify({
      mode: inProcess ? 'in-process' : 'worker',
      committers,
      seconds: Number(elapsed.toFixed(2)),
      commits,
      commitsPerSecond: Math.round(commits / elapsed),
      transactions: groups,
      meanGroupSize: Number(((after.items - before.items) / Math.max(1, groups)).toFixed(1)),
      latencyMs: { p50: Number(pct(0.5).toFixed(2)), p99: Number(pct(0.99).toFixed(2)) },
    }),
  );
} finally {
  await spool.close();
  await rm(dir, { recursive: true, force: true });
}
