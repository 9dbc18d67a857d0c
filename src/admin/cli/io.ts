/**
 * What a CLI command may touch of the outside world, passed in explicitly.
 *
 * `processIo()` binds it to the real process (stdio, env, cwd, SIGINT/SIGTERM,
 * process.exit); tests pass their own streams and signal source so commands can
 * run in-process. No behaviour of its own beyond that binding.
 */
import type { Readable } from 'node:stream';

export interface OutputStream {
  write(text: string): unknown;
  readonly isTTY?: boolean;
}

export interface InputStream extends AsyncIterable<Buffer | string> {
  readonly isTTY?: boolean;
  setRawMode?(mode: boolean): unknown;
  setEncoding?(encoding: BufferEncoding): unknown;
  on?(event: 'data', listener: (chunk: Buffer | string) => void): unknown;
  off?(event: 'data', listener: (chunk: Buffer | string) => void): unknown;
  pause?(): unknown;
  resume?(): unknown;
}

export type StopSignal = 'SIGINT' | 'SIGTERM';

export interface CliIo {
  readonly stdin: InputStream;
  readonly stdout: OutputStream;
  readonly stderr: OutputStream;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly cwd: string;
  /** Calls `handler` on each SIGINT/SIGTERM until the returned function is called. */
  onSignal(handler: (signal: StopSignal) => void): () => void;
  /** Leaves at once with this code (the second-signal path). */
  exit(code: number): void;
}

/** Exit codes (BSD sysexits.h, which service managers and scripts recognise). */
export const EXIT = {
  ok: 0,
  failure: 1,
  usage: 64,
  dataError: 65,
  unavailable: 69,
  software: 70,
  config: 78,
  interrupted: 130,
} as const;

export function processIo(): CliIo {
  return {
    stdin: process.stdin as Readable & InputStream,
    stdout: process.stdout,
    stderr: process.stderr,
    env: process.env,
    cwd: process.cwd(),
    onSignal(handler) {
      const onInt = (): void => handler('SIGINT');
      const onTerm = (): void => handler('SIGTERM');
      process.on('SIGINT', onInt);
      process.on('SIGTERM', onTerm);
      return () => {
        process.off('SIGINT', onInt);
        process.off('SIGTERM', onTerm);
      };
    },
    exit(code) {
      process.exit(code);
    },
  };
}
