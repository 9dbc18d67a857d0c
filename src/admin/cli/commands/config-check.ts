/**
 * `mxpress config check`: load the configuration exactly as `start` would and print
 * the effective result as YAML (secrets redacted), or the problem.
 *
 * Exit 0 with the YAML on stdout; 78 with the ConfigError on stderr. When the
 * config names TLS cert/key files they are read and checked too (nothing is
 * created: a missing self-signed pair is made by `start`, not here).
 */
import { ConfigError, loadConfig } from '../../../config/load.ts';
import { renderConfigYaml } from '../../../config/render.ts';
import { loadOrCreateTlsMaterial } from '../../../config/tls-material.ts';
import { type CliIo, EXIT } from '../io.ts';
import type { Command } from './command.ts';
import { configFlagsHelp } from './flags-help.ts';

export const configCheckCommand: Command = {
  name: 'config check',
  summary: 'print the effective configuration (secrets redacted), or what is wrong with it',
  help: () =>
    [
      'Usage: mxpress config check [flags]',
      '',
      'Loads defaults, the config file, MXPRESS_* variables and flags exactly as "start" does',
      'and prints the result as YAML that can be saved as a config file (password hashes and',
      'API tokens are shown as [redacted]). Exits 0 when the configuration is valid, 78 when not.',
      '',
      configFlagsHelp(),
    ].join('\n'),

  async run(args: readonly string[], io: CliIo): Promise<number> {
    try {
      const config = await loadConfig({ argv: args, env: io.env, cwd: io.cwd });
      const { certFile, keyFile } = config.smtp.tls;
      if (certFile !== undefined && keyFile !== undefined) {
        await loadOrCreateTlsMaterial({
          dataDir: config.dataDir,
          hostname: config.hostname,
          certFile,
          keyFile,
        });
      }
      io.stdout.write('# mxpress effective configuration (secrets redacted)\n');
      io.stdout.write(renderConfigYaml(config, { redact: true }));
      return EXIT.ok;
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      io.stderr.write(`${error.message}\n`);
      return EXIT.config;
    }
  },
};
