/**
 * The benchmark's child processes: start them, wait until they are ready, stop
 * them, and make sure none outlives the benchmark.
 *
 * Every child runs in its own process group (a Ctrl-C reaches only the
 * benchmark, which then stops them in order). A reaper child (reaper-child.ts)
 * is told every pid and SIGKILLs whatever is left if the benchmark dies without
 * cleaning up; it also removes the temp data dirs made with `tempDir`. `stop`
 * sends a signal and escalates to SIGKILL after a grace period; every wait here
 * has a timeout. Output of children is kept only as a bounded tail for errors.
 */
import { type ChildProcess, fork, type SpawnOptions, spawn } from 'node:child_process';
import { once } from 'node:events';
import { rmSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const TAIL_BYTES = 4096;

/** Keeps the last few KiB a stream wrote. */
export function tailOf(stream: NodeJS.ReadableStream | null): () => string {
  let tail = '';
  stream?.on('data', (chunk: Buffer) => {
    tail = (tail + chunk.toString('utf8')).slice(-TAIL_BYTES);
  });
  return () => tail;
}

export function exited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

/** Resolves true once the child exited, false after `timeoutMs`. */
export async function waitExit(child: ChildProcess, timeoutMs: number): Promise<boolean> {
  if (exited(child)) return true;
  const timer = new AbortController();
  const t = setTimeout(() => timer.abort(), timeoutMs);
  try {
    await once(child, 'exit', { signal: timer.signal });
    return true;
  } catch {
    return exited(child);
  } finally {
    clearTimeout(t);
  }
}

/** Resolves with the first IPC message of `type` the child sends, rejects on exit or timeout. */
export function waitMessage<T>(child: ChildProcess, type: string, timeoutMs: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const done = (): void => {
      clearTimeout(timer);
      child.off('message', onMessage);
      child.off('exit', onExit);
    };
    const onMessage = (message: unknown): void => {
      if (typeof message === 'object' && message !== null && (message as { type?: unknown }).type === type) {
        done();
        resolve(message as T);
      }
    };
    const onExit = (code: number | null, signal: string | null): void => {
      done();
      reject(new Error(`child exited (${signal ?? code}) before sending "${type}"`));
    };
    const timer = setTimeout(() => {
      done();
      reject(new Error(`child sent no "${type}" within ${timeoutMs} ms`));
    }, timeoutMs);
    child.on('message', onMessage);
    child.on('exit', onExit);
  });
}

export class Children {
  #reaper: ChildProcess;
  #live = new Set<ChildProcess>();
  #dirs = new Set<string>();

  private constructor(reaper: ChildProcess) {
    this.#reaper = reaper;
  }

  static async start(): Promise<Children> {
    const reaper = fork(fileURLToPath(new URL('./reaper-child.ts', import.meta.url)), [], {
      detached: true,
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    });
    await waitMessage(reaper, 'ready', 10_000);
    return new Children(reaper);
  }

  #track(child: ChildProcess): ChildProcess {
    const pid = child.pid;
    if (pid === undefined) return child;
    this.#live.add(child);
    if (this.#reaper.connected) this.#reaper.send({ watch: pid });
    child.once('exit', () => {
      this.#live.delete(child);
      if (this.#reaper.connected) this.#reaper.send({ unwatch: pid });
    });
    return child;
  }

  /** A TypeScript child script with an IPC channel, run by this same Node. */
  fork(script: string, args: readonly string[]): ChildProcess {
    return this.#track(
      fork(fileURLToPath(new URL(script, import.meta.url)), [...args], {
        detached: true,
        stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
      }),
    );
  }

  /** Any program; stdout and stderr are piped. Rejects when it cannot be started. */
  async spawn(command: string, args: readonly string[], options: SpawnOptions = {}): Promise<ChildProcess> {
    const child = spawn(command, [...args], {
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
      ...options,
    });
    await new Promise<void>((resolve, reject) => {
      child.once('spawn', resolve);
      child.once('error', reject);
    });
    return this.#track(child);
  }

  /** Signals the child's process and escalates to SIGKILL after `graceMs`; resolves once it exited. */
  async stop(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM', graceMs = 5000): Promise<void> {
    if (exited(child)) return;
    child.kill(signal);
    if (await waitExit(child, graceMs)) return;
    child.kill('SIGKILL');
    await waitExit(child, 5000);
  }

  /** A fresh temp dir (mxpress-bench-*) that is removed by `removeDir`, `stopAll` or the reaper. */
  async tempDir(): Promise<string> {
    const dir = await mkdtemp(join(tmpdir(), 'mxpress-bench-'));
    this.#dirs.add(dir);
    if (this.#reaper.connected) this.#reaper.send({ dir });
    return dir;
  }

  async removeDir(dir: string): Promise<void> {
    await rm(dir, { recursive: true, force: true, maxRetries: 3 });
    this.#dirs.delete(dir);
    if (this.#reaper.connected) this.#reaper.send({ undir: dir });
  }

  /** Stops every live child (SIGTERM, then SIGKILL), removes the temp dirs, then lets the reaper go. */
  async stopAll(graceMs = 3000): Promise<void> {
    await Promise.all([...this.#live].map((c) => this.stop(c, 'SIGTERM', graceMs)));
    for (const dir of this.#dirs) rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
    this.#dirs.clear();
    if (this.#reaper.connected) this.#reaper.disconnect();
    await waitExit(this.#reaper, 2000);
  }
}
