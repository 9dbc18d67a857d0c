/**
 * Durability of acceptance: concurrent clients stream messages into a real
 * `mxpress start` process, which is killed with SIGKILL at a random moment.
 * Every message that got `250 ... queued as ID` must be in the spool afterwards,
 * byte for byte, and the server must start again on the same data directory.
 * Repeated on the same data directory, with seeded kill times.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { createSqliteSpool } from '../../src/spool/sqlite/index.ts';
import { freePort, startChildMxpress } from '../harness/child-mxpress.ts';
import { seededRandom } from '../harness/prng.ts';
import { rawSession } from '../harness/raw-session.ts';

/** One client: sends messages until the connection dies; records the acknowledged ids. */
async function client(port: number, tag: string, acked: Map<string, string>): Promise<void> {
  for (let n = 0; ; n++) {
    let s: Awaited<ReturnType<typeof rawSession>>;
    try {
      s = await rawSession(port);
      await s.expect(220);
      await s.command('EHLO load.example', 250);
    } catch {
      return;
    }
    try {
      for (let m = 0; m < 20; m++) {
        const marker = `${tag}-${n}-${m}`;
        await s.command('MAIL FROM:<load@example.net>', 250);
        await s.command('RCPT TO:<sink@example.org>', 250);
        await s.command('DATA', 354);
        s.send(`Subject: ${marker}\r\n\r\n${'body line\r\n'.repeat(40)}${marker}\r\n.\r\n`);
        const lines = await s.expect(250);
        const id = /queued as ([0-9A-Z]{26})/.exec(lines[0]!)?.[1];
        assert.ok(id);
        acked.set(id, marker);
      }
    } catch {
      return;
    } finally {
      s.close();
    }
  }
}

describe('kill -9 during acceptance', () => {
  it('keeps every acknowledged message across three SIGKILLs', async (t) => {
    const dataDir = mkdtempSync(join(tmpdir(), 'mxpress-kill-'));
    const random = seededRandom(20261122);
    const acked = new Map<string, string>();
    try {
      for (let round = 0; round < 3; round++) {
        const port = await freePort();
        const child = await startChildMxpress(dataDir, port, ['--dns-server', '127.0.0.1:9']);
        const clients = Array.from({ length: 8 }, (_, i) => client(port, `r${round}c${i}`, acked));
        await new Promise((resolve) => setTimeout(resolve, 400 + random() * 1200));
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGKILL');
        await exited;
        await Promise.all(clients);
      }
      t.diagnostic(`acknowledged before the kills: ${acked.size} messages, all found in the spool`);
      assert.ok(acked.size > 50, `too few messages acknowledged to mean anything: ${acked.size}`);
      const spool = createSqliteSpool({ dataDir, inProcess: true });
      await spool.open();
      try {
        for (const [id, marker] of acked) {
          const message = await spool.getMessage(id);
          assert.ok(message, `acknowledged message ${id} (${marker}) is missing`);
          const body = Buffer.from(await spool.readBody(id)).toString('utf8');
          assert.ok(
            body.includes(`Subject: ${marker}\r\n`) && body.endsWith(`${marker}\r\n`),
            `body of ${id} differs`,
          );
        }
      } finally {
        await spool.close();
      }
      // And the server starts again on this data.
      const port = await freePort();
      const child = await startChildMxpress(dataDir, port, ['--dns-server', '127.0.0.1:9']);
      child.kill('SIGTERM');
      await new Promise((resolve) => child.once('exit', resolve));
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('drains on SIGTERM: exits within the bound and keeps every acknowledged message', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'mxpress-term-'));
    const acked = new Map<string, string>();
    try {
      const port = await freePort();
      const child = await startChildMxpress(dataDir, port, ['--dns-server', '127.0.0.1:9']);
      const clients = Array.from({ length: 8 }, (_, i) => client(port, `term${i}`, acked));
      await new Promise((resolve) => setTimeout(resolve, 700));
      const started = Date.now();
      const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
      child.kill('SIGTERM');
      const code = await exited;
      const took = Date.now() - started;
      await Promise.all(clients);
      assert.equal(code, 0, 'mxpress did not exit cleanly on SIGTERM');
      assert.ok(took < 15_000, `drain took ${took} ms`);
      assert.ok(acked.size > 10, `too few messages acknowledged: ${acked.size}`);
      const spool = createSqliteSpool({ dataDir, inProcess: true });
      await spool.open();
      try {
        for (const [id, marker] of acked)
          assert.ok(await spool.getMessage(id), `acknowledged ${id} (${marker}) is missing`);
      } finally {
        await spool.close();
      }
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
