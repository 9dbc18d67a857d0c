/**
 * Test helpers for the CLI: run bin/mxpress.js as a real child process with a
 * clean MXPRESS_* environment and a time limit, and an in-process `CliIo` that
 * records output, signals and exit calls. Test-only; not imported by the CLI.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import type { CliIo, StopSignal } from './io.ts';

export const BIN = fileURLToPath(new URL('../../../bin/mxpress.js', import.meta.url));

export interface RunResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** The parent's environment without MXPRESS_* (so a developer's settings cannot leak in). */
export function cleanEnv(extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env))
    if (!k.startsWith('MXPRESS_') && v !== undefined) env[k] = v;
  return { ...env, ...extra };
}

export async function runCli(
  args: readonly string[],
  options: {
    cwd: string;
    env?: Record<string, string>;
    stdin?: string;
    node?: string;
    bin?: string;
    timeoutMs?: number;
  },
): Promise<RunResult> {
  const child = spawn(options.node ?? process.execPath, [options.bin ?? BIN, ...args], {
    cwd: options.cwd,
    env: cleanEnv(options.env),
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => {
    stdout += d;
  });
  child.stderr.setEncoding('utf8').on('data', (d: string) => {
    stderr += d;
  });
  child.stdin.end(options.stdin ?? '');
  const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 15_000);
  try {
    const [code, signal] = (await once(child, 'close')) as [number | null, NodeJS.Signals | null];
    return { code, signal, stdout, stderr };
  } finally {
    clearTimeout(timer);
  }
}

export interface FakeIo extends CliIo {
  readonly out: () => string;
  readonly err: () => string;
  readonly exits: number[];
  /** Delivers a signal to the handlers currently subscribed. */
  signal(signal: StopSignal): void;
  readonly subscribers: () => number;
}

export function fakeIo(options: { cwd: string; env?: Record<string, string>; stdin?: string }): FakeIo {
  let out = '';
  let err = '';
  const handlers = new Set<(s: StopSignal) => void>();
  const exits: number[] = [];
  return {
    stdin: Readable.from([Buffer.from(options.stdin ?? '')]),
    stdout: {
      write(text: string) {
        out += text;
        return true;
      },
    },
    stderr: {
      write(text: string) {
        err += text;
        return true;
      },
    },
    env: options.env ?? {},
    cwd: options.cwd,
    onSignal(handler) {
      handlers.add(handler);
      return () => handlers.delete(handler);
    },
    exit(code) {
      exits.push(code);
    },
    out: () => out,
    err: () => err,
    exits,
    signal(signal) {
      for (const h of [...handlers]) h(signal);
    },
    subscribers: () => handlers.size,
  };
}
