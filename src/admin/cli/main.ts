/**
 * The `mxpress` command line: picks the command from argv and runs it.
 *
 * `main(argv, io)` resolves to the exit code; bin/mxpress.js passes the real
 * process, tests their own io. Commands: `start`, `config check`,
 * `hash-password`, `help`; `--help` works alone and after any command, `--version`
 * prints the version. An unknown command prints a hint and exits 64 (EX_USAGE);
 * an unexpected exception prints "internal error" with its stack and exits 70.
 * Flag parsing for configuration lives in config/args.ts, shared with the loader.
 */
import { suggest } from '../../config/errors.ts';
import type { Command } from './commands/command.ts';
import { configCheckCommand } from './commands/config-check.ts';
import { dkimKeygenCommand } from './commands/dkim.ts';
import { doctorCommand } from './commands/doctor.ts';
import { explainCommand } from './commands/explain.ts';
import { hashPasswordCommand } from './commands/hash-password.ts';
import { helpCommand, usage } from './commands/help.ts';
import { queueCommand } from './commands/queue.ts';
import { sendCommand } from './commands/send.ts';
import { sendmailCommand } from './commands/sendmail.ts';
import { startCommand } from './commands/start.ts';
import { statusCommand } from './commands/status.ts';
import { suppressCommand } from './commands/suppress.ts';
import { tailCommand } from './commands/tail.ts';
import { type CliIo, EXIT, processIo } from './io.ts';
import { mxpressVersion } from './version.ts';

const COMMANDS: readonly Command[] = [
  startCommand,
  configCheckCommand,
  hashPasswordCommand,
  dkimKeygenCommand,
  suppressCommand,
  explainCommand,
  statusCommand,
  tailCommand,
  queueCommand,
  sendmailCommand,
  sendCommand,
  doctorCommand,
];

function wantsHelp(args: readonly string[]): boolean {
  const end = args.indexOf('--');
  const before = end === -1 ? args : args.slice(0, end);
  return before.includes('--help') || before.includes('-h');
}

/** Finds the command whose words start argv (longest match first). */
function pick(argv: readonly string[]): { command: Command; rest: readonly string[] } | undefined {
  for (const command of [...COMMANDS].sort((a, b) => b.name.length - a.name.length)) {
    const words = command.name.split(' ');
    if (words.every((w, i) => argv[i] === w)) return { command, rest: argv.slice(words.length) };
  }
  return undefined;
}

export async function main(argv: readonly string[], io: CliIo = processIo()): Promise<number> {
  try {
    const first = argv[0];
    if (first === undefined) {
      io.stderr.write(`${usage(COMMANDS)}\n`);
      return EXIT.usage;
    }
    if (first === '--version' || first === '-V') {
      io.stdout.write(`mxpress ${mxpressVersion()}\n`);
      return EXIT.ok;
    }
    if (first === '--help' || first === '-h') {
      io.stdout.write(`${usage(COMMANDS)}\n`);
      return EXIT.ok;
    }
    if (first === 'help') return await helpCommand(COMMANDS).run(argv.slice(1), io);

    const picked = pick(argv);
    if (picked === undefined) {
      const family = COMMANDS.filter((c) => c.name.split(' ')[0] === first);
      if (family.length > 0) {
        // A command group such as "config" given without (or with a wrong) subcommand.
        if (wantsHelp(argv.slice(1))) return await helpCommand(COMMANDS).run([first], io);
        const subs = family.map((c) => c.name.split(' ')[1]).join(', ');
        const given = argv[1] === undefined ? 'needs a subcommand' : `has no subcommand "${argv[1]}"`;
        io.stderr.write(`mxpress: ${first} ${given} (${subs}); see mxpress ${first} --help\n`);
        return EXIT.usage;
      }
      const near = suggest(
        first,
        COMMANDS.map((c) => c.name.split(' ')[0]!),
      );
      const hint = near === undefined ? '' : ` (did you mean "${near}"?)`;
      io.stderr.write(`mxpress: unknown command "${first}"${hint}; see mxpress --help\n`);
      return EXIT.usage;
    }
    if (wantsHelp(picked.rest)) {
      io.stdout.write(`${picked.command.help()}\n`);
      return EXIT.ok;
    }
    return await picked.command.run(picked.rest, io);
  } catch (error) {
    const detail = error instanceof Error ? (error.stack ?? error.message) : String(error);
    io.stderr.write(`mxpress: internal error: ${detail}\n`);
    return EXIT.software;
  }
}

// Run directly (`node src/admin/cli/main.ts start`) as well as through bin/mxpress.js.
if (import.meta.main) process.exit(await main(process.argv.slice(2)));
