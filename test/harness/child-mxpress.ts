/**
 * `mxpress start` as a child process, for tests that kill, stop or starve it:
 * a free loopback port and the start itself (waiting for the 220 greeting).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { rawSession } from './raw-session.ts';

const BIN = join(import.meta.dirname, '..', '..', 'bin', 'mxpress.js');

/** A port that was free on `host` a moment ago. */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  return typeof address === 'object' && address ? address.port : 0;
}

/**
 * Starts `mxpress start` with its SMTP listener on 127.0.0.1:`port`, the HTTP API on
 * an ephemeral port, logs silenced, and `args` (more flags) after those; resolves
 * once the greeting is served, rejects (and kills it) after 15 s.
 */
export async function startChildMxpress(
  dataDir: string,
  port: number,
  args: readonly string[] = [],
): Promise<ChildProcess> {
  const child = spawn(
    process.execPath,
    [
      BIN,
      'start',
      '--data-dir',
      dataDir,
      '--smtp',
      `127.0.0.1:${port}`,
      '--http',
      '127.0.0.1:0',
      '--hostname',
      'mx.mxpress.test',
      '--log-level',
      'silent',
      ...args,
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr?.on('data', (c: Buffer) => {
    stderr = (stderr + c.toString()).slice(-4000);
  });
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`mxpress exited: ${stderr}`);
    try {
      const s = await rawSession(port);
      await s.expect(220);
      s.close();
      return child;
    } catch {
      if (Date.now() > deadline) {
        child.kill('SIGKILL');
        throw new Error(`mxpress did not start: ${stderr}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}
