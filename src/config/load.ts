/**
 * `loadConfig`: command-line flags, MXPRESS_* environment and an optional YAML file
 * in, one deep-frozen `Config` out.
 *
 * Precedence: defaults < YAML file (`--config FILE` or `MXPRESS_CONFIG`) <
 * environment < flags. `--smtp`/`MXPRESS_SMTP` listeners are added to the file's;
 * `--trusted-network` and `--dns-server` replace their lists. Relative paths in the
 * file resolve against the file's directory; elsewhere against `cwd`. The file is
 * read with a size limit and parsed as YAML 1.2 (duplicate keys refused). Every
 * problem throws `ConfigError` (errors.ts) naming the key, flag or variable, the
 * problem and the source. Configured DKIM key files are read and checked
 * (dkim-keys.ts). Nothing here reads process state: argv, env and cwd are
 * passed in, so tests can run many loads side by side.
 */
import { readFile, stat } from 'node:fs/promises';
import { hostname as osHostname } from 'node:os';
import { parseDocument } from 'yaml';
import { parseConfigFlags } from './args.ts';
import { buildConfig } from './build.ts';
import { checkDkimKeys } from './dkim-keys.ts';
import { ConfigError } from './errors.ts';
import { parseEnvLayer, parseFlagLayer } from './overrides.ts';
import { type FileLayer, parseFileLayer } from './schema.ts';
import type { Config } from './types.ts';

export { ConfigError } from './errors.ts';

const MAX_FILE_BYTES = 1024 * 1024;

export interface LoadConfigInput {
  /** Flags only (the command words already removed). */
  readonly argv: readonly string[];
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly cwd: string;
  /** Overrides os.hostname() as the default host name (tests). */
  readonly systemHostname?: string;
}

async function readConfigFile(path: string): Promise<FileLayer> {
  let text: string;
  try {
    const info = await stat(path);
    if (!info.isFile()) throw new ConfigError({ key: path, problem: 'is not a regular file' });
    if (info.size > MAX_FILE_BYTES) {
      throw new ConfigError({
        key: path,
        problem: `is larger than ${MAX_FILE_BYTES} bytes; is it the right file?`,
      });
    }
    text = await readFile(path, 'utf8');
  } catch (error) {
    if (error instanceof ConfigError) throw error;
    const code = (error as NodeJS.ErrnoException).code ?? 'error';
    const why =
      code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : (error as Error).message;
    throw new ConfigError({ key: path, problem: `cannot read the config file: ${why}` }, { cause: error });
  }
  const doc = parseDocument(text, { uniqueKeys: true, prettyErrors: true });
  const syntax = doc.errors[0];
  if (syntax !== undefined) {
    const where = syntax.linePos?.[0];
    const at = where === undefined ? '' : ` at line ${where.line}, column ${where.col}`;
    const first = syntax.message.split('\n')[0] ?? syntax.message;
    throw new ConfigError({
      key: path,
      problem: `YAML syntax error${at}: ${first.replace(/ at line \d+, column \d+:?$/, '')}`,
    });
  }
  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: 100 });
  } catch (error) {
    throw new ConfigError(
      { key: path, problem: `cannot read the YAML: ${(error as Error).message}` },
      { cause: error },
    );
  }
  return parseFileLayer(data, path);
}

export async function loadConfig(input: LoadConfigInput): Promise<Config> {
  const flags = parseFlagLayer(parseConfigFlags(input.argv), input.cwd);
  const env = parseEnvLayer(input.env, input.cwd);
  const configFile = flags.configFile ?? env.configFile;
  const file =
    configFile === undefined ? undefined : { layer: await readConfigFile(configFile), path: configFile };
  const config = buildConfig({
    cwd: input.cwd,
    systemHostname: input.systemHostname ?? osHostname(),
    env,
    flags,
    ...(file === undefined ? {} : { file }),
  });
  await checkDkimKeys(config.delivery.dkim, configFile ?? 'default');
  return config;
}
