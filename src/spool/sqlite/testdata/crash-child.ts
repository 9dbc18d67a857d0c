/**
 * Child process for crash.test.ts and enospc.test.ts (test code only).
 *
 * argv: <dataDir> <firstSeed> [maxMessages]. Opens the SQLite spool (worker
 * mode) and commits messages from 16 concurrent committers as fast as it can.
 * stdout protocol, one line each, written only after the fact it states:
 *   `ready`                    the spool is open
 *   `ok <id> <seed> <length>`  commit RESOLVED; body is patternBytes(length, seed)
 *   `fail <id> <code>`         commit REJECTED with that MxError code
 *   `read-ok` / `read-fail`    a read after the first failure worked / did not
 *   `done`                     maxMessages reached and the spool closed cleanly
 * The parent kills it at any moment or lets it run to `done`.
 */
import { writeSync } from 'node:fs';
import { MxError } from '../../../protocol/errors.ts';
import { makeMessage, patternBytes } from '../../conformance-fixtures.ts';
import { createSqliteSpool } from '../index.ts';

const [dataDir, seedText, maxText] = process.argv.slice(2);
if (dataDir === undefined || seedText === undefined)
  throw new Error('usage: crash-child <dataDir> <seed> [max]');
const max = maxText === undefined ? Number.POSITIVE_INFINITY : Number(maxText);
let nextSeed = Number(seedText);
let started = 0;
let firstOk: string | undefined;
let checkedRead = false;

/** Synchronous write: a line is in the pipe before the next commit starts. */
function say(line: string): void {
  writeSync(1, `${line}\n`);
}

const spool = createSqliteSpool({ dataDir });
await spool.open();
say('ready');

async function committer(): Promise<void> {
  while (started < max) {
    started += 1;
    const seed = nextSeed++;
    const length = 512 + ((seed * 7919) % 65_536);
    const message = makeMessage({ receivedAt: Date.now(), body: patternBytes(length, seed) });
    try {
      await spool.commit(message);
      firstOk ??= message.id;
      say(`ok ${message.id} ${seed} ${length}`);
    } catch (error) {
      say(`fail ${message.id} ${error instanceof MxError ? error.code : String(error)}`);
      if (!checkedRead && firstOk !== undefined) {
        checkedRead = true;
        const stored = await spool.getMessage(firstOk).catch(() => undefined);
        say(stored === undefined ? 'read-fail' : 'read-ok');
      }
    }
  }
}

await Promise.all(Array.from({ length: 16 }, () => committer()));
await spool.close();
say('done');
