import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Config } from '../../config/types.ts';
import { createStartCommand, type RunningServer } from './commands/start.ts';
import { BIN, cleanEnv, fakeIo } from './test-helpers.ts';

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mxpress-start-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A runtime stand-in that records what the start command asks of it. */
function recordingRuntime(options: { stop?: () => Promise<void>; fail?: Error } = {}) {
  const calls = { configs: [] as Config[], stops: [] as string[] };
  const start = async (config: Config): Promise<RunningServer> => {
    calls.configs.push(config);
    if (options.fail) throw options.fail;
    return {
      listeners: config.smtp.listeners.map((l) => ({ ...l, port: l.port === 0 ? 40001 : l.port })),
      http: { address: config.http.address, port: 8099 },
      tls: { selfSigned: true, fingerprint256: 'AA:BB' },
      stop: async (reason) => {
        calls.stops.push(reason);
        await options.stop?.();
      },
    };
  };
  return { calls, load: async () => start };
}

/** Resolves once `predicate` holds, checking after each write to the fake io (bounded). */
async function until(predicate: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 200 && !predicate(); i++) await new Promise((r) => setImmediate(r));
  assert.ok(predicate(), `timed out waiting for ${what}`);
}

describe('start command (in-process, recorded runtime)', () => {
  test('prints the banner, stops once on the first signal, exits 0', async () => {
    const runtime = recordingRuntime();
    const io = fakeIo({ cwd: dir });
    const running = createStartCommand({ load: runtime.load }).run(
      ['--smtp', '127.0.0.1:0', '--hostname', 'mx.test'],
      io,
    );
    await until(() => io.out().includes('Stop with'), 'the banner');
    assert.match(io.out(), /SMTP {6}127\.0\.0\.1:40001: STARTTLS offered, async delivery/);
    assert.match(io.out(), /HTTP API {2}http:\/\/127\.0\.0\.1:8099\//);
    assert.match(io.out(), /swaks --server 127\.0\.0\.1:40001 .*--to you@example\.com/);
    assert.equal(runtime.calls.configs[0]?.hostname, 'mx.test');
    io.signal('SIGTERM');
    assert.equal(await running, 0);
    assert.deepEqual(runtime.calls.stops, ['signal']);
    assert.deepEqual(io.exits, []);
    assert.equal(io.subscribers(), 0, 'signal handlers removed');
  });

  test('a second signal while stopping exits 130 at once; a near-simultaneous duplicate does not', async () => {
    let finishStop = (): void => {};
    const stopGate = new Promise<void>((resolve) => {
      finishStop = resolve;
    });
    const runtime = recordingRuntime({ stop: () => stopGate });
    const io = fakeIo({ cwd: dir });
    let clock = 1000;
    const command = createStartCommand({ load: runtime.load, duplicateWindowMs: 500, now: () => clock });
    const running = command.run(['--hostname', 'mx.test'], io);
    await until(() => io.out().includes('Stop with'), 'the banner');
    io.signal('SIGINT');
    await until(() => runtime.calls.stops.length === 1, 'stop');
    clock += 5; // the same Ctrl-C delivered again (npm start, timeout)
    io.signal('SIGINT');
    assert.deepEqual(io.exits, []);
    clock += 1000; // the operator presses again
    io.signal('SIGINT');
    assert.deepEqual(io.exits, [130]);
    assert.match(io.err(), /SIGINT again, exiting now/);
    assert.deepEqual(runtime.calls.stops, ['signal']);
    finishStop();
    assert.equal(await running, 0);
  });

  test('a configuration error exits 78 without loading the runtime', async () => {
    let loaded = false;
    const io = fakeIo({ cwd: dir });
    const code = await createStartCommand({
      load: async () => {
        loaded = true;
        throw new Error('should not load');
      },
    }).run(['--mx-port', 'seventy'], io);
    assert.equal(code, 78);
    assert.equal(loaded, false);
    assert.equal(
      io.err(),
      'config error: --mx-port: expected a port number 1-65535, got "seventy" (from command line)\n',
    );
  });

  test('a runtime that fails to start exits 1 with its message', async () => {
    const runtime = recordingRuntime({
      fail: new Error('listen EADDRINUSE: address already in use 127.0.0.1:2525'),
    });
    const io = fakeIo({ cwd: dir });
    const code = await createStartCommand({ load: runtime.load }).run(['--hostname', 'mx.test'], io);
    assert.equal(code, 1);
    assert.match(io.err(), /mxpress: cannot start: listen EADDRINUSE/);
    assert.equal(io.subscribers(), 0);
  });

  test('a stop that never finishes is given up after the limit, exit 1', async () => {
    const runtime = recordingRuntime({ stop: () => new Promise<void>(() => {}) });
    const io = fakeIo({ cwd: dir });
    const running = createStartCommand({ load: runtime.load, stopLimitMs: 50 }).run(
      ['--hostname', 'mx.test'],
      io,
    );
    await until(() => io.out().includes('Stop with'), 'the banner');
    io.signal('SIGTERM');
    assert.equal(await running, 1);
    assert.match(io.err(), /stop did not finish within 0s/);
  });
});

describe('mxpress start (real process)', () => {
  test('starts, the banner names a live SMTP port, SIGTERM stops it with exit 0', async () => {
    const child = spawn(
      process.execPath,
      [
        BIN,
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
      ],
      { cwd: dir, env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const killer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    try {
      let stdout = '';
      let stderr = '';
      child.stderr.setEncoding('utf8').on('data', (d: string) => {
        stderr += d;
      });
      const banner = new Promise<string>((resolve, reject) => {
        child.stdout.setEncoding('utf8').on('data', (d: string) => {
          stdout += d;
          if (stdout.includes('Stop with')) resolve(stdout);
        });
        child.once('exit', (code) => reject(new Error(`exited ${code} before the banner: ${stderr}`)));
      });
      const text = await banner;
      assert.match(text, /^mxpress \d+\.\d+\.\d+\S* is running as mx\.test$/m);
      assert.match(text, /Data dir {2}.*data$/m);
      const port = Number(/SMTP {6}127\.0\.0\.1:(\d+):/.exec(text)?.[1]);
      assert.ok(port > 0, 'the banner shows the bound port, not 0');

      const socket = connect({ host: '127.0.0.1', port });
      socket.setEncoding('utf8');
      const [greeting] = (await once(socket, 'data', { signal: AbortSignal.timeout(5000) })) as [string];
      assert.match(greeting, /^220 /);
      socket.destroy();

      child.kill('SIGTERM');
      const [code] = (await once(child, 'exit', { signal: AbortSignal.timeout(15_000) })) as [number | null];
      assert.equal(code, 0, stderr);
      assert.match(stderr, /SIGTERM received, stopping/);
      assert.match(stderr, /mxpress: stopped/);
    } finally {
      clearTimeout(killer);
      child.kill('SIGKILL');
    }
  });
});
