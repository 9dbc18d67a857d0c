/**
 * Finds and runs the real SMTP client programs the interoperability tests talk to
 * (swaks, msmtp, /usr/bin/python3, Postfix's smtp-source).
 *
 * `has(program)` says whether a program is installed (a PATH search, or an absolute
 * path that is an executable file), so a test can skip with a stated reason.
 * `run()` spawns a program WITHOUT a shell and never blocks the event loop: the
 * mxpress under test runs in the same process, so a synchronous spawn would
 * deadlock. Every run has a time limit; on expiry the child is killed and run()
 * rejects with what it printed so far. Output is capped at 4 MiB per stream.
 */
import { spawn } from 'node:child_process';
import { accessSync, constants, statSync } from 'node:fs';
import { delimiter, join } from 'node:path';

export const PYTHON = '/usr/bin/python3';

const MAX_OUTPUT = 4 * 1024 * 1024;

function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

/** True when `program` (a bare name looked up in PATH plus /usr/sbin, or an absolute path) can be run. */
export function has(program: string): boolean {
  if (program.startsWith('/')) return executable(program);
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/sbin', '/usr/bin'];
  return dirs.some((dir) => dir !== '' && executable(join(dir, program)));
}

/** Absolute path of an installed program (has() must be true). */
export function which(program: string): string {
  if (program.startsWith('/')) return program;
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/sbin', '/usr/bin'];
  for (const dir of dirs) {
    if (dir !== '' && executable(join(dir, program))) return join(dir, program);
  }
  throw new Error(`${program} is not installed`);
}

export interface RunResult {
  /** Exit status; null when the child was ended by a signal. */
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

export interface RunOptions {
  /** Written to the child's stdin, which is then closed. */
  readonly input?: string | Buffer;
  readonly timeoutMs?: number;
  readonly env?: Readonly<Record<string, string>>;
}

/** Runs a program to completion; rejects on spawn failure or when the time limit passes. */
export function run(program: string, args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  const timeoutMs = options.timeoutMs ?? 15_000;
  return new Promise((resolve, reject) => {
    const child = spawn(which(program), args, {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        HOME: '/nonexistent',
        LANG: 'C.UTF-8',
        ...options.env,
      },
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let outBytes = 0;
    let errBytes = 0;
    child.stdout.on('data', (chunk: Buffer) => {
      outBytes += chunk.length;
      if (outBytes <= MAX_OUTPUT) out.push(chunk);
    });
    child.stderr.on('data', (chunk: Buffer) => {
      errBytes += chunk.length;
      if (errBytes <= MAX_OUTPUT) err.push(chunk);
    });
    const text = (): { stdout: string; stderr: string } => ({
      stdout: Buffer.concat(out).toString('utf8'),
      stderr: Buffer.concat(err).toString('utf8'),
    });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      const { stdout, stderr } = text();
      reject(
        new Error(`${program} timed out after ${timeoutMs} ms\n--- stdout\n${stdout}\n--- stderr\n${stderr}`),
      );
    }, timeoutMs);
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, ...text() });
    });
    child.stdin.on('error', () => {}); // a client that exits early closes its stdin
    child.stdin.end(options.input ?? '');
  });
}
