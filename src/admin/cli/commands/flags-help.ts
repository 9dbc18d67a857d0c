/**
 * Help text for the configuration flags shared by `start` and `config check`,
 * generated from the flag table in config/args.ts so the two never disagree.
 */
import { CONFIG_FLAGS, envNameOf } from '../../../config/args.ts';

export function configFlagsHelp(): string {
  const rows = CONFIG_FLAGS.map((f) => {
    const left = `  --${f.name} ${f.value}`;
    const repeat = f.repeatable ? ' [repeatable]' : '';
    return `${left.padEnd(30)}${f.help}${repeat}`;
  });
  return [
    'Configuration flags (each overrides MXPRESS_* variables, which override the config file):',
    ...rows,
    '',
    `Each flag has an environment twin, e.g. --data-dir DIR is ${envNameOf('data-dir')}=DIR;`,
    'repeatable flags take comma-separated lists there (MXPRESS_SMTP=127.0.0.1:2525,[::1]:2525).',
    'Durations: 250ms 30s 5m 2h 5d; sizes: 10KB 50MB 1GB (binary units). Port 0 picks a free port.',
  ].join('\n');
}
