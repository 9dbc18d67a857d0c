/**
 * `mxpress help [command]` and the top-level usage text.
 *
 * The command list is passed in (main.ts owns the table) so this file has no
 * import cycle; output goes to stdout and the exit code is 0, or 64 for a help
 * request about a command that does not exist.
 */
import { type CliIo, EXIT } from '../io.ts';
import type { Command } from './command.ts';

export function usage(commands: readonly Command[]): string {
  const width = Math.max(...commands.map((c) => c.name.length), 'help [command]'.length) + 2;
  return [
    'mxpress: a direct-delivery SMTP server',
    '',
    'Usage: mxpress <command> [flags]',
    '',
    'Commands:',
    ...commands.map((c) => `  ${c.name.padEnd(width)}${c.summary}`),
    `  ${'help [command]'.padEnd(width)}show help for a command`,
    '',
    'Options: --help (also after any command), --version',
    'Exit codes: 0 ok, 1 failure, 64 usage error, 65 bad input, 69 unavailable, 78 configuration error.',
    'Run "mxpress start --help" for the configuration flags.',
  ].join('\n');
}

export function helpCommand(commands: readonly Command[]): Command {
  return {
    name: 'help',
    summary: 'show help for a command',
    help: () => 'Usage: mxpress help [command]',
    async run(args: readonly string[], io: CliIo): Promise<number> {
      if (args.length === 0) {
        io.stdout.write(`${usage(commands)}\n`);
        return EXIT.ok;
      }
      const wanted = args.join(' ');
      const command = commands.find((c) => c.name === wanted || c.name.split(' ')[0] === wanted);
      if (command === undefined) {
        io.stderr.write(`mxpress: no command "${wanted}"; see mxpress --help\n`);
        return EXIT.usage;
      }
      const family = commands.filter((c) => c.name.split(' ')[0] === wanted && c.name !== wanted);
      io.stdout.write(`${family.length > 1 ? family.map((c) => c.help()).join('\n\n') : command.help()}\n`);
      return EXIT.ok;
    },
  };
}
