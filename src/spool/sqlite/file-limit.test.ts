/**
 * Storage failure test without root: the child runs under `ulimit -f`, so the
 * spool's files cannot grow past a few MB and SQLite sees short writes (mapped
 * to SPOOL_FULL) or EFBIG write errors (SPOOL_IO); Node ignores SIGXFSZ. The
 * child keeps committing after the first failure. Then, with no limit, every
 * acknowledged message must be there with its exact body and every rejected one
 * absent: a rejected commit stored nothing and the spool kept serving.
 * A true ENOSPC (full tmpfs) needs a mount and is left to the runtime tests.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { it } from 'node:test';
import { patternBytes } from '../conformance-fixtures.ts';
import { createSqliteSpool } from './index.ts';
import { SpoolChild } from './testdata/child-process.ts';

it('when the files cannot grow, commits fail as SPOOL_FULL/SPOOL_IO, store nothing, and the spool keeps serving', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'mxpress-fsize-'));
  try {
    // 6000 blocks: about 3 MB under dash; 400 messages average ~33 KB, about 13 MB.
    const child = new SpoolChild({ dataDir: dir, firstSeed: 7, maxMessages: 400, fileSizeBlocks: 6000 });
    await child.waitReady(15_000);
    await child.waitExit(60_000);
    const lines = child.lines();
    assert.ok(lines.includes('done'), `child did not finish: ${child.stderr}`);
    const committed = child.committed();
    const failed = lines.filter((line) => line.startsWith('fail ')).map((line) => line.split(' '));
    t.diagnostic(`${committed.length} committed, ${failed.length} rejected`);
    assert.ok(committed.length > 0, 'some commits fit under the limit');
    assert.ok(failed.length > 0, 'the limit was hit');
    for (const [, , code] of failed) assert.ok(code === 'SPOOL_FULL' || code === 'SPOOL_IO', `code ${code}`);
    assert.ok(lines.includes('read-ok'), 'reads kept working after a failed commit');

    const spool = createSqliteSpool({ dataDir: dir, inProcess: true });
    await spool.open();
    try {
      for (const c of committed) {
        assert.ok(Buffer.from(await spool.readBody(c.id)).equals(patternBytes(c.length, c.seed)), c.id);
      }
      for (const [, id] of failed) assert.equal(await spool.getMessage(id!), undefined, `${id} was rejected`);
      assert.equal((await spool.stats()).messages, committed.length);
    } finally {
      await spool.close();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
