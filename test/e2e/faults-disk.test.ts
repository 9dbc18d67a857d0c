/**
 * A full disk: a real `mxpress start` child keeps its data on a 12 MB tmpfs that
 * also holds a 3 MB filler file we made. Clients send mail until the server
 * refuses (452 4.3.1 at MAIL, or a 4xx after the data when a write fails first);
 * the server must stay up. Then the filler is deleted and the same running server
 * must accept mail again. Finally the spool is opened and every acknowledged
 * message must be there, byte for byte.
 *
 * Needs root and a working `mount` (tmpfs); otherwise it skips and says why. The
 * mount is always removed. `smtp.limits.minFreeBytes` is set low through a YAML
 * file so the spool really gets near the end of the disk.
 *
 * A second case starts mxpress on a data dir whose disk has no byte left: it must
 * come up, refuse new mail with 452 4.3.1, and take mail once space returns.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, execFileSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { createSqliteSpool } from '../../src/spool/sqlite/index.ts';
import { freePort, startChildMxpress } from '../harness/child-mxpress.ts';
import { rawSession } from '../harness/raw-session.ts';

const FILLER_BYTES = 3 * 1024 * 1024;
const MAX_MESSAGES = 2000;

/** Why this test cannot run here, or undefined when it can (mounts and unmounts a probe). */
function cannotMount(probeDir: string): string | undefined {
  if (process.getuid?.() !== 0) return 'not running as root: cannot mount a tmpfs';
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', probeDir], { stdio: 'pipe' });
    execFileSync('umount', [probeDir], { stdio: 'pipe' });
    return undefined;
  } catch (error) {
    return `mount -t tmpfs does not work here: ${String(error).split('\n')[0]}`;
  }
}

type Refusal = { stage: 'MAIL' | 'RCPT' | 'DATA' | 'dot'; line: string };

/** Sends messages on one connection until one is refused (or `max` were sent); acked ids -> markers. */
async function fill(
  port: number,
  tag: string,
  acked: Map<string, string>,
  refusals: Refusal[],
  max = MAX_MESSAGES,
): Promise<void> {
  const s = await rawSession(port);
  try {
    await s.expect(220);
    await s.command('EHLO filler.example', 250);
    for (let n = 0; n < max && acked.size < MAX_MESSAGES; n++) {
      const marker = `${tag}-${n}`;
      const steps: [Refusal['stage'], string, number][] = [
        ['MAIL', 'MAIL FROM:<fill@example.net>', 250],
        ['RCPT', `RCPT TO:<${marker}@example.org>`, 250],
        ['DATA', 'DATA', 354],
      ];
      for (const [stage, line, code] of steps) {
        s.send(`${line}\r\n`);
        const reply = await s.reply(10_000);
        if (reply?.code !== code) {
          refusals.push({ stage, line: reply?.lines.join(' ') ?? 'connection closed' });
          return;
        }
      }
      s.send(`Subject: ${marker}\r\n\r\n${'x'.repeat(76).concat('\r\n').repeat(400)}end ${marker}\r\n.\r\n`);
      const reply = await s.reply(10_000);
      const id = /queued as ([0-9A-Z]{26})/.exec(reply?.lines[0] ?? '')?.[1];
      if (reply?.code !== 250 || !id) {
        refusals.push({ stage: 'dot', line: reply?.lines.join(' ') ?? 'connection closed' });
        return;
      }
      acked.set(id, marker);
    }
  } finally {
    s.close();
  }
}

/** A data disk of its own for one mxpress child: a tmpfs, a config file, the child. */
interface Disk {
  readonly mountDir: string;
  readonly dataDir: string;
  readonly port: number;
  /** Starts mxpress on the disk (waits for its 220). */
  start(): Promise<ChildProcess>;
  /** Stops the running child, if any, with `signal` and waits for it to exit. */
  stop(signal: NodeJS.Signals): Promise<void>;
}

/**
 * Runs `body` with a `sizeMb` tmpfs as mxpress's disk, or skips `t` when mounting is
 * not possible here. Always kills the child, unmounts and removes what it made.
 */
async function withDisk(t: TestContext, sizeMb: number, body: (disk: Disk) => Promise<void>): Promise<void> {
  const mountDir = mkdtempSync(join(tmpdir(), 'mxpress-disk-'));
  const reason = cannotMount(mountDir);
  if (reason) {
    rmSync(mountDir, { recursive: true, force: true });
    t.skip(reason);
    return;
  }
  const configFile = `${mountDir}.yaml`;
  writeFileSync(configFile, 'smtp:\n  limits:\n    minFreeBytes: 256KB\n');
  let child: ChildProcess | undefined;
  let mounted = false;
  const dataDir = join(mountDir, 'data');
  const disk: Disk = {
    mountDir,
    dataDir,
    port: await freePort(),
    async start() {
      child = await startChildMxpress(dataDir, disk.port, [
        '--config',
        configFile,
        '--dns-server',
        '127.0.0.1:9',
      ]);
      return child;
    },
    async stop(signal) {
      const running = child;
      if (!running) return;
      const exited = new Promise((resolve) => running.once('exit', resolve));
      running.kill(signal);
      await exited;
      child = undefined;
    },
  };
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${sizeMb}m`, 'tmpfs', mountDir], { stdio: 'pipe' });
    mounted = true;
    await body(disk);
  } finally {
    await disk.stop('SIGKILL');
    if (mounted) execFileSync('umount', [mountDir], { stdio: 'pipe' });
    rmSync(mountDir, { recursive: true, force: true });
    rmSync(configFile, { force: true });
  }
}

/** Fills the file system holding `path` to its last byte with one file there. */
function fillToTheLastByte(path: string): void {
  const fd = openSync(path, 'w');
  try {
    const chunk = Buffer.alloc(64 * 1024, 0x61);
    for (let size = chunk.length; size > 0; ) {
      try {
        writeSync(fd, chunk, 0, size);
      } catch {
        size = Math.floor(size / 2);
      }
    }
  } finally {
    closeSync(fd);
  }
}

describe('full disk', () => {
  it('refuses with 4xx when the spool disk is full, loses nothing acknowledged, and recovers', async (t) => {
    await withDisk(t, 12, async (disk) => {
      const filler = join(disk.mountDir, 'filler.bin');
      writeFileSync(filler, Buffer.alloc(FILLER_BYTES, 0x61));
      const { port, dataDir } = disk;
      const child = await disk.start();

      const acked = new Map<string, string>();
      const refusals: Refusal[] = [];
      await Promise.all([0, 1, 2].map((i) => fill(port, `c${i}`, acked, refusals)));
      assert.ok(acked.size < MAX_MESSAGES, 'the disk never filled');
      assert.equal(refusals.length, 3);
      for (const r of refusals)
        assert.ok(
          (r.stage === 'MAIL' && /^452 4\.3\.1/.test(r.line)) ||
            (r.stage === 'dot' && /^4\d\d /.test(r.line)),
          `unexpected refusal at ${r.stage}: ${r.line}`,
        );
      assert.equal(child.exitCode, null, 'mxpress died on a full disk');
      t.diagnostic(`${acked.size} messages of ~31 KB acknowledged before the disk filled`);
      t.diagnostic(`refusals: ${refusals.map((r) => `${r.stage}: ${r.line}`).join(' | ')}`);

      // Free space: the same running server takes mail again (free space is sampled every second).
      rmSync(filler);
      const freedAt = Date.now();
      let recovered = false;
      while (!recovered && Date.now() - freedAt < 15_000) {
        const more: Refusal[] = [];
        const before = acked.size;
        await fill(port, `after${Date.now()}`, acked, more, 1);
        recovered = acked.size > before;
        if (!recovered) await new Promise((resolve) => setTimeout(resolve, 250));
      }
      assert.ok(recovered, 'no mail accepted within 15 s of freeing space');
      t.diagnostic(`mail accepted again ${Date.now() - freedAt} ms after the filler was deleted`);

      await disk.stop('SIGTERM');
      // Opening the spool writes (lease release, WAL checkpoint): give the reader room,
      // so what is checked is the data the server left, not whether a reader fits.
      execFileSync('mount', ['-o', 'remount,size=64m', disk.mountDir], { stdio: 'pipe' });
      const spool = createSqliteSpool({ dataDir, inProcess: true });
      await spool.open();
      try {
        for (const [id, marker] of acked) {
          assert.ok(await spool.getMessage(id), `acknowledged message ${id} (${marker}) is missing`);
          const body = Buffer.from(await spool.readBody(id)).toString('latin1');
          assert.ok(
            body.includes(`Subject: ${marker}\r\n`) && body.endsWith(`end ${marker}\r\n`),
            `body of ${id} differs`,
          );
        }
      } finally {
        await spool.close();
      }
      t.diagnostic(`all ${acked.size} acknowledged messages found intact in the spool`);
    });
  });

  it('starts on a disk with no room left, refuses with 452 4.3.1, and takes mail once space returns', async (t) => {
    await withDisk(t, 8, async (disk) => {
      const { port, dataDir } = disk;
      // A first run makes the data dir (databases, certificate); then the disk fills up to the last byte.
      await disk.start();
      await disk.stop('SIGTERM');
      const filler = join(disk.mountDir, 'filler.bin');
      fillToTheLastByte(filler);

      await disk.start();
      const acked = new Map<string, string>();
      const refusals: Refusal[] = [];
      await fill(port, 'full', acked, refusals, 1);
      assert.equal(acked.size, 0);
      assert.equal(refusals[0]?.stage, 'MAIL');
      assert.match(refusals[0]?.line ?? '', /^452 4\.3\.1 /);

      rmSync(filler);
      const freedAt = Date.now();
      while (acked.size === 0 && Date.now() - freedAt < 15_000) {
        await fill(port, `after${Date.now()}`, acked, [], 1);
        if (acked.size === 0) await new Promise((resolve) => setTimeout(resolve, 250));
      }
      assert.equal(acked.size, 1, 'no mail accepted within 15 s of freeing space');
      await disk.stop('SIGTERM');
      const spool = createSqliteSpool({ dataDir, inProcess: true });
      await spool.open();
      try {
        for (const id of acked.keys())
          assert.ok(await spool.getMessage(id), `acknowledged message ${id} is missing`);
      } finally {
        await spool.close();
      }
    });
  });
});
