/**
 * `mxpress hash-password`: read one password on stdin, print its scrypt hash for
 * `smtp.users[].passwordHash`.
 *
 * From a terminal it prompts twice on stderr without echo (raw mode) and checks
 * both entries match; from a pipe it reads to end of input (at most a few KB) and
 * drops one trailing newline. The password is untrusted text only in the sense
 * that it is bounded: at most MAX_PASSWORD_BYTES, one line, not empty. Exit 0
 * with the hash on stdout, 65 for unusable input, 130 when interrupted.
 */
import { hashPassword, MAX_PASSWORD_BYTES } from '../../../config/password.ts';
import { type CliIo, EXIT, type InputStream } from '../io.ts';
import type { Command } from './command.ts';

class InputProblem extends Error {
  readonly code: number;
  constructor(message: string, code: number = EXIT.dataError) {
    super(message);
    this.code = code;
  }
}

/** Reads piped input to the end, bounded. */
async function readAll(stdin: InputStream): Promise<string> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of stdin) {
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    total += bytes.length;
    if (total > MAX_PASSWORD_BYTES + 2)
      throw new InputProblem(`the password is longer than ${MAX_PASSWORD_BYTES} bytes`);
    chunks.push(bytes);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  return text.replace(/\r?\n$/, '');
}

/** Reads one line from a terminal in raw mode, echoing nothing. */
function readHidden(io: CliIo, prompt: string): Promise<string> {
  const stdin = io.stdin;
  // Raw mode before the prompt: input typed the moment the prompt shows is not echoed.
  stdin.setEncoding?.('utf8');
  stdin.setRawMode?.(true);
  io.stderr.write(prompt);
  return new Promise((resolve, reject) => {
    let text = '';
    const finish = (error: Error | undefined): void => {
      stdin.off?.('data', onData);
      stdin.setRawMode?.(false);
      stdin.pause?.();
      io.stderr.write('\n');
      if (error) reject(error);
      else resolve(text);
    };
    const onData = (chunk: Buffer | string): void => {
      for (const ch of typeof chunk === 'string' ? chunk : chunk.toString('utf8')) {
        if (ch === '\r' || ch === '\n') return finish(undefined);
        if (ch === '\u0003') return finish(new InputProblem('interrupted', EXIT.interrupted));
        if (ch === '\u0004') return finish(text === '' ? new InputProblem('no password given') : undefined);
        if (ch === '\u007f' || ch === '\b') text = Array.from(text).slice(0, -1).join('');
        else if (ch >= ' ') text += ch;
        if (Buffer.byteLength(text) > MAX_PASSWORD_BYTES) {
          return finish(new InputProblem(`the password is longer than ${MAX_PASSWORD_BYTES} bytes`));
        }
      }
    };
    stdin.on?.('data', onData);
    stdin.resume?.();
  });
}

async function readPassword(io: CliIo): Promise<string> {
  if (io.stdin.isTTY === true && io.stdin.setRawMode !== undefined) {
    const first = await readHidden(io, 'Password: ');
    const second = await readHidden(io, 'Again: ');
    if (first !== second) throw new InputProblem('the two passwords differ');
    return first;
  }
  return readAll(io.stdin);
}

export const hashPasswordCommand: Command = {
  name: 'hash-password',
  summary: 'read a password on stdin and print its hash for smtp.users',
  help: () =>
    [
      'Usage: mxpress hash-password < password-file',
      '       printf %s "$PASSWORD" | mxpress hash-password',
      '',
      'Prints scrypt$N$r$p$salt$hash for smtp.users[].passwordHash in the config file:',
      '  smtp:',
      '    users:',
      '      - { username: alice, passwordHash: "scrypt$16384$8$1$..." }',
      `From a terminal it asks twice without echo. One line, at most ${MAX_PASSWORD_BYTES} bytes;`,
      'a single trailing newline is dropped.',
    ].join('\n'),

  async run(args: readonly string[], io: CliIo): Promise<number> {
    if (args.length > 0) {
      io.stderr.write(
        `mxpress hash-password: unexpected argument "${args[0]}" (the password is read from stdin)\n`,
      );
      return EXIT.usage;
    }
    try {
      const password = await readPassword(io);
      if (password === '') throw new InputProblem('no password given');
      if (/[\r\n]/.test(password)) throw new InputProblem('the password must be one line');
      if (Buffer.byteLength(password) > MAX_PASSWORD_BYTES) {
        throw new InputProblem(`the password is longer than ${MAX_PASSWORD_BYTES} bytes`);
      }
      io.stdout.write(`${await hashPassword(password)}\n`);
      return EXIT.ok;
    } catch (error) {
      if (!(error instanceof InputProblem)) throw error;
      io.stderr.write(`mxpress hash-password: ${error.message}\n`);
      return error.code;
    }
  },
};
