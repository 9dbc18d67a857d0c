/**
 * Runs crash-child.ts in a real child process and reads its line protocol
 * (test code only). In: data dir, first seed, optional message cap and file-size
 * limit (applied with `ulimit -f` through /bin/sh). Out: the parsed lines, a
 * `ready` wait and a bounded wait for exit. Every wait has a timeout.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';

const CHILD = fileURLToPath(new URL('./crash-child.ts', import.meta.url));

export interface Committed {
  readonly id: string;
  readonly seed: number;
  readonly length: number;
}

export interface ChildOptions {
  readonly dataDir: string;
  readonly firstSeed: number;
  readonly maxMessages?: number;
  /** Passed to `ulimit -f` (RLIMIT_FSIZE in blocks: 512 bytes in dash, 1024 in bash). */
  readonly fileSizeBlocks?: number;
}

export class SpoolChild {
  readonly #child: ChildProcess;
  readonly #exit: Promise<unknown>;
  #text = '';
  #stderr = '';
  #readyWaiters: (() => void)[] = [];
  #ready = false;

  constructor(options: ChildOptions) {
    const args = [CHILD, options.dataDir, String(options.firstSeed)];
    if (options.maxMessages !== undefined) args.push(String(options.maxMessages));
    this.#child =
      options.fileSizeBlocks === undefined
        ? spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] })
        : spawn(
            '/bin/sh',
            ['-c', `ulimit -f ${options.fileSizeBlocks} && exec "$0" "$@"`, process.execPath, ...args],
            {
              stdio: ['ignore', 'pipe', 'pipe'],
            },
          );
    // 'close' comes after stdout is fully read, so no printed line is missed.
    this.#exit = once(this.#child, 'close');
    this.#child.stdout?.setEncoding('utf8');
    this.#child.stdout?.on('data', (chunk: string) => {
      this.#text += chunk;
      if (!this.#ready && this.#text.startsWith('ready\n')) {
        this.#ready = true;
        for (const wake of this.#readyWaiters) wake();
      }
    });
    this.#child.stderr?.setEncoding('utf8');
    this.#child.stderr?.on('data', (chunk: string) => {
      this.#stderr = (this.#stderr + chunk).slice(-4000);
    });
  }

  /** Complete lines only: a line cut by the kill never counts. */
  lines(): string[] {
    const end = this.#text.lastIndexOf('\n');
    return end < 0 ? [] : this.#text.slice(0, end).split('\n');
  }

  committed(): Committed[] {
    return this.lines()
      .filter((line) => line.startsWith('ok '))
      .map((line) => {
        const [, id, seed, length] = line.split(' ');
        return { id: id!, seed: Number(seed), length: Number(length) };
      });
  }

  get stderr(): string {
    return this.#stderr;
  }

  async waitReady(timeoutMs: number): Promise<void> {
    if (this.#ready) return;
    const ready = new Promise<void>((resolve) => this.#readyWaiters.push(resolve));
    await withTimeout(Promise.race([ready, this.#exit]), timeoutMs, 'child ready');
    if (!this.#ready) throw new Error(`child exited before ready: ${this.#stderr}`);
  }

  kill(): void {
    this.#child.kill('SIGKILL');
  }

  async waitExit(timeoutMs: number): Promise<void> {
    await withTimeout(this.#exit, timeoutMs, 'child exit');
  }
}

async function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
