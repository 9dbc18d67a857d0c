/**
 * Runs mxpress under test as a child process (`bin/mxpress.js start`), so its
 * CPU and memory can be measured apart from the load generator.
 *
 * In: data dir, DNS server address, MX port, optional fixed SMTP/HTTP ports and
 * extra flags. Out: a `ServerProcess` with its pid, bound addresses (read from the
 * start banner) and the time from spawn to the SMTP 220 greeting. Fails (rejects,
 * with the tail of its stderr) when it exits or prints no banner in time.
 * `stop` is SIGTERM (graceful drain) with SIGKILL after a grace period; `kill`
 * is SIGKILL at once; `end` is `kill`, or `stop` when a CPU profile is being taken
 * (V8 writes it at exit). Parses only mxpress's own banner output.
 */
import type { ChildProcess } from 'node:child_process';
import { delimiter, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Children, exited, tailOf } from './children.ts';
import { greets } from './sinks.ts';

export interface ServerOptions {
  readonly dataDir: string;
  readonly dnsAddress: string;
  readonly mxPort: number;
  readonly smtpPort?: number;
  readonly httpPort?: number;
  readonly extraArgs?: readonly string[];
  /** How long start-up may take (a large backlog makes it longer). */
  readonly startTimeoutMs?: number;
  /** Write V8 CPU profiles (main thread and spool worker) here when the process exits. */
  readonly cpuProfileDir?: string;
}

export interface ServerProcess {
  readonly pid: number;
  readonly child: ChildProcess;
  readonly smtp: { readonly host: string; readonly port: number };
  readonly httpBase: string;
  readonly httpPort: number;
  /** Spawn -> start banner printed (ms). */
  readonly bannerMs: number;
  /** Spawn -> first SMTP 220 greeting read (ms). */
  readonly greetingMs: number;
  /** Graceful stop; resolves with how long it took (ms). */
  stop(graceMs?: number): Promise<number>;
  kill(): Promise<void>;
  /** Done with it, data thrown away: `kill`, or a graceful `stop` while profiling. */
  end(): Promise<void>;
  stderr(): string;
}

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const BIN = fileURLToPath(new URL('../bin/mxpress.js', import.meta.url));

/** Reads `SMTP <addr>:<port>` and `HTTP API http://<addr>:<port>/` from the start banner. */
export function parseBanner(text: string): { smtpPort: number; httpPort: number } | undefined {
  const smtp = /^\s*SMTP\s+127\.0\.0\.1:(\d+)/m.exec(text);
  const http = /^\s*HTTP API\s+http:\/\/127\.0\.0\.1:(\d+)\//m.exec(text);
  if (!smtp || !http) return undefined;
  return { smtpPort: Number(smtp[1]), httpPort: Number(http[1]) };
}

export async function startServer(children: Children, options: ServerOptions): Promise<ServerProcess> {
  const args = [
    'start',
    '--data-dir',
    options.dataDir,
    '--smtp',
    `127.0.0.1:${options.smtpPort ?? 0}`,
    '--http',
    `127.0.0.1:${options.httpPort ?? 0}`,
    '--dns-server',
    options.dnsAddress,
    '--mx-port',
    String(options.mxPort),
    '--hostname',
    'bench.test',
    '--log-level',
    'warn',
    ...(options.extraArgs ?? []),
  ];
  const t0 = performance.now();
  // Run as a program, the way users start it, so the launcher's Node flags apply.
  const profile = options.cpuProfileDir;
  const child = await children.spawn(BIN, args, {
    cwd: ROOT,
    ...(profile === undefined
      ? {}
      : {
          env: {
            ...process.env,
            NODE_OPTIONS: [process.env.NODE_OPTIONS, '--cpu-prof', `--cpu-prof-dir=${profile}`]
              .filter(Boolean)
              .join(' '),
            // The launcher's `env node` must find this Node (24): an older one refuses
            // --cpu-prof in NODE_OPTIONS before it could hand over to the pinned one.
            PATH: `${dirname(process.execPath)}${delimiter}${process.env.PATH ?? ''}`,
          },
        }),
  });
  const stderr = tailOf(child.stderr);
  const timeoutMs = options.startTimeoutMs ?? 60_000;
  let out = '';
  const banner = await new Promise<{ smtpPort: number; httpPort: number }>((resolve, reject) => {
    const done = (): void => {
      clearTimeout(timer);
      child.off('exit', onExit);
    };
    const onExit = (code: number | null, signal: string | null): void => {
      done();
      reject(new Error(`mxpress exited (${signal ?? code}) during start: ${stderr().trim()}`));
    };
    const timer = setTimeout(() => {
      done();
      reject(new Error(`mxpress printed no start banner within ${timeoutMs} ms: ${stderr().trim()}`));
    }, timeoutMs);
    child.on('exit', onExit);
    child.stdout?.on('data', (chunk: Buffer) => {
      if (out.length < 16_384) out += chunk.toString('utf8');
      const parsed = out.includes('Stop with') ? parseBanner(out) : undefined;
      if (parsed) {
        done();
        resolve(parsed);
      }
    });
  }).catch(async (error: unknown) => {
    await children.stop(child, 'SIGKILL');
    throw error;
  });
  // Keep draining stdout so the child never blocks on a full pipe.
  child.stdout?.resume();
  const bannerMs = performance.now() - t0;
  let greeted = false;
  while (!greeted && !exited(child) && performance.now() - t0 < timeoutMs)
    greeted = await greets('127.0.0.1', banner.smtpPort, 2000);
  if (!greeted) {
    await children.stop(child, 'SIGKILL');
    throw new Error(`mxpress did not greet on 127.0.0.1:${banner.smtpPort}: ${stderr().trim()}`);
  }
  const greetingMs = performance.now() - t0;
  return {
    pid: child.pid ?? 0,
    child,
    smtp: { host: '127.0.0.1', port: banner.smtpPort },
    httpBase: `http://127.0.0.1:${banner.httpPort}`,
    httpPort: banner.httpPort,
    bannerMs,
    greetingMs,
    async stop(graceMs = 30_000) {
      const s0 = performance.now();
      await children.stop(child, 'SIGTERM', graceMs);
      return performance.now() - s0;
    },
    kill: () => children.stop(child, 'SIGKILL'),
    end: async () => {
      if (profile === undefined) await children.stop(child, 'SIGKILL');
      else await children.stop(child, 'SIGTERM', 60_000);
    },
    stderr,
  };
}
