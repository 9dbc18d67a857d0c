/**
 * bin/mxpress.js on a Node older than 24: it must re-execute itself with the
 * pinned Node 24 (or explain how to get it). These tests need such a Node; they
 * look for the system one at the usual paths and are skipped, saying so, if none
 * is older than 24. Only the plain-JavaScript launcher runs on the old Node.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { BIN, cleanEnv, runCli } from './test-helpers.ts';

function findOldNode(): string | undefined {
  for (const candidate of ['/usr/bin/node', '/usr/local/bin/node']) {
    if (!existsSync(candidate)) continue;
    const r = spawnSync(candidate, ['-p', 'process.versions.node'], { encoding: 'utf8', timeout: 5000 });
    const major = Number(r.stdout.split('.')[0]);
    if (r.status === 0 && major > 0 && major < 24) return candidate;
  }
  return undefined;
}

const oldNode = findOldNode();

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mxpress-launcher-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('launcher on an old Node', {
  skip: oldNode === undefined && 'no Node older than 24 at /usr/bin or /usr/local/bin',
}, () => {
  const node = oldNode ?? '';

  test('re-executes with the pinned Node 24', async () => {
    const r = await runCli(['--version'], { cwd: dir, node });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^mxpress \d+\.\d+\.\d+/);
  });

  test('passes the exit code and output through', async () => {
    const r = await runCli(['config', 'check', '--mx-port', 'x'], { cwd: dir, node });
    assert.equal(r.code, 78);
    assert.match(r.stderr, /config error: --mx-port: expected a port number 1-65535, got "x"/);
    const h = await runCli(['hash-password'], { cwd: dir, node, stdin: 'pw\n' });
    assert.equal(h.code, 0);
    assert.match(h.stdout, /^scrypt\$/);
  });

  test('without the pinned Node it says how to install it and exits 69', async () => {
    const pkg = join(dir, 'pkg');
    await mkdir(join(pkg, 'bin'), { recursive: true });
    await writeFile(join(pkg, 'package.json'), '{"type":"module"}\n');
    await copyFile(BIN, join(pkg, 'bin', 'mxpress.js'));
    const r = await runCli(['--version'], { cwd: dir, node, bin: join(pkg, 'bin', 'mxpress.js') });
    assert.equal(r.code, 69);
    assert.match(r.stderr, /needs Node\.js 24/);
    assert.match(r.stderr, /npm install/);
  });

  test('forwards SIGTERM to the server and returns its exit code', async () => {
    const args = [
      'start',
      '--smtp',
      '127.0.0.1:0',
      '--http',
      '127.0.0.1:0',
      '--data-dir',
      join(dir, 'data'),
      '--hostname',
      'mx.test',
      '--log-level',
      'silent',
    ];
    const child = spawn(node, [BIN, ...args], {
      cwd: dir,
      env: cleanEnv(),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const killer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    try {
      let out = '';
      let err = '';
      child.stderr.setEncoding('utf8').on('data', (d: string) => {
        err += d;
      });
      await new Promise<void>((resolve, reject) => {
        child.stdout.setEncoding('utf8').on('data', (d: string) => {
          out += d;
          if (out.includes('Stop with')) resolve();
        });
        child.once('exit', (code) => reject(new Error(`exited ${code} early: ${err}`)));
      });
      child.kill('SIGTERM');
      const [code, signal] = (await once(child, 'exit', { signal: AbortSignal.timeout(15_000) })) as [
        number | null,
        string | null,
      ];
      assert.equal(signal, null);
      assert.equal(code, 0, err);
      assert.match(err, /SIGTERM received, stopping[\s\S]*mxpress: stopped/);
    } finally {
      clearTimeout(killer);
      child.kill('SIGKILL');
    }
  });
});
