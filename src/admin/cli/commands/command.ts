/**
 * The shape every CLI command has: its words, a one-line summary, a help text and
 * `run(args, io)` resolving to the process exit code. Types only.
 */
import type { CliIo } from '../io.ts';

export interface Command {
  /** The words that select it: `start`, `config check`. */
  readonly name: string;
  readonly summary: string;
  /** Full help shown by `mxpress <command> --help`. */
  help(): string;
  /** `args` are what follows the command words. */
  run(args: readonly string[], io: CliIo): Promise<number>;
}
