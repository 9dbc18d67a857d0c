/**
 * Test helpers for the config loader: a temporary directory, YAML files in it and
 * loadConfig with a fixed system host name. Test-only.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, loadConfig } from './load.ts';
import type { Config } from './types.ts';

export interface ConfigFixture {
  readonly dir: string;
  yamlFile(text: string): Promise<string>;
  load(argv?: string[], env?: Record<string, string | undefined>): Promise<Config>;
  loadError(argv: string[], env?: Record<string, string | undefined>): Promise<ConfigError>;
  dispose(): Promise<void>;
}

export async function configFixture(): Promise<ConfigFixture> {
  const dir = await mkdtemp(join(tmpdir(), 'mxpress-config-'));
  let fileCounter = 0;
  const load = (argv: string[] = [], env: Record<string, string | undefined> = {}): Promise<Config> =>
    loadConfig({ argv, env, cwd: dir, systemHostname: 'mx.test' });
  return {
    dir,
    async yamlFile(text) {
      const path = join(dir, `c${fileCounter++}.yaml`);
      await writeFile(path, text);
      return path;
    },
    load,
    async loadError(argv, env = {}) {
      try {
        await load(argv, env);
      } catch (error) {
        assert.ok(error instanceof ConfigError, `expected ConfigError, got ${String(error)}`);
        return error;
      }
      assert.fail('expected loadConfig to fail');
    },
    dispose: () => rm(dir, { recursive: true, force: true }),
  };
}
