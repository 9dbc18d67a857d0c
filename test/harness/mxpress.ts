/**
 * Starts a real mxpress (the same composition root as `mxpress start`) for tests:
 * a fresh data dir, SMTP on an ephemeral loopback port, logs silenced.
 *
 * Options override the config the way flags do; `mutate` edits the loaded config
 * for settings that have no flag. Always call `stop()` (it also removes the data dir
 * unless `keepData`).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../src/config/load.ts';
import type { Config } from '../../src/config/types.ts';
import { type RunningMxpress, startMxpress } from '../../src/runtime/start.ts';

export interface TestServer {
  readonly config: Config;
  readonly dataDir: string;
  readonly host: string;
  /** Port of the first SMTP listener. */
  readonly port: number;
  readonly running: RunningMxpress;
  stop(options?: { keepData?: boolean }): Promise<void>;
}

export interface TestServerOptions {
  readonly argv?: readonly string[];
  readonly dataDir?: string;
  readonly mutate?: (config: Config) => Config;
  /** The SMTP ingress thread's module, when a test replaces it. */
  readonly ingressModule?: URL;
}

export async function startTestServer(options: TestServerOptions = {}): Promise<TestServer> {
  const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), 'mxpress-test-'));
  const argv = [
    '--data-dir',
    dataDir,
    '--hostname',
    'mx.mxpress.test',
    '--log-level',
    'silent',
    ...(options.argv ?? []),
  ];
  if (!argv.includes('--smtp')) argv.push('--smtp', '127.0.0.1:0');
  if (!argv.includes('--http')) argv.push('--http', '127.0.0.1:0');
  let config = await loadConfig({ argv, env: {}, cwd: process.cwd() });
  if (options.mutate) config = options.mutate(config);
  const running = await startMxpress(config, { ingressModule: options.ingressModule });
  const first = running.listeners[0]!;
  return {
    config,
    dataDir,
    host: first.address,
    port: first.port,
    running,
    async stop(stopOptions) {
      await running.stop('test');
      if (!stopOptions?.keepData && !options.dataDir) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
