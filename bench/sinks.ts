/**
 * The receiving sink the benchmark delivers to, in a child process: Postfix's
 * `smtp-sink` (fast C) when installed, else the harness JS sink (sink-child.ts).
 *
 * In: host, port and mode (`accept` counts messages; `defer` answers 451 to
 * every RCPT). Out: a `SinkHandle` whose message count grows as mxpress
 * delivers; `waitForCount` waits on that growth (event-driven, with a timeout).
 * smtp-sink's `-c` counters ("sess=N quit=N mesg=N", CR-separated) are parsed
 * from its stdout; the JS sink reports over IPC. Fails (rejects) when the sink
 * does not answer with a 220 banner in time. Loopback only.
 */
import type { ChildProcess } from 'node:child_process';
import { execFileSync } from 'node:child_process';
import { connect, createServer } from 'node:net';
import { type Children, tailOf, waitMessage } from './children.ts';
import { isLoopback } from './smtp-load.ts';

export type SinkKind = 'postfix smtp-sink' | 'harness JS sink';

export interface SinkHandle {
  readonly kind: SinkKind;
  readonly host: string;
  readonly port: number;
  readonly pid: number;
  readonly child: ChildProcess;
  /** Messages accepted so far. */
  count(): number;
  /** Sessions seen so far (smtp-sink: ended sessions; JS sink: opened connections). */
  sessions(): number;
  /** Count observations: performance.now() and the count then (coalesced to 10 ms). */
  readonly observations: readonly { t: number; value: number }[];
  /** Resolves with the performance.now() at which the count reached `target`, or undefined on timeout. */
  waitForCount(target: number, timeoutMs: number): Promise<number | undefined>;
  /** Per recipient domain: messages and distinct connections (JS sink only). */
  perDomain(): Promise<{ domain: string; messages: number; connections: number }[] | undefined>;
}

const MAX_OBSERVATIONS = 500_000;

/** An unused TCP port on `host` (bound and released; a rare race is caught by the 220 check). */
export async function freePort(host: string): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, resolve);
  });
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

/** True when a 220 greeting arrives from host:port within `timeoutMs`. */
export function greets(host: string, port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    let text = '';
    const finish = (ok: boolean): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => finish(false), timeoutMs);
    socket.on('data', (chunk: Buffer) => {
      text += chunk.toString('latin1');
      if (text.includes('\r\n')) finish(text.startsWith('220'));
    });
    socket.on('error', () => finish(false));
    socket.on('close', () => finish(false));
  });
}

export function postfixSinkAvailable(): boolean {
  try {
    execFileSync('sh', ['-c', 'command -v smtp-sink'], { stdio: 'ignore', timeout: 2000 });
    return true;
  } catch {
    return false;
  }
}

class Counter {
  readonly observations: { t: number; value: number }[] = [];
  value = 0;
  sessions = 0;
  #waiters = new Set<() => void>();

  update(value: number, sessions: number): void {
    this.sessions = sessions;
    if (value === this.value) return;
    this.value = value;
    const t = performance.now();
    const last = this.observations[this.observations.length - 1];
    if (last !== undefined && t - last.t < 10) last.value = value;
    else if (this.observations.length < MAX_OBSERVATIONS) this.observations.push({ t, value });
    for (const wake of [...this.#waiters]) wake();
  }

  waitFor(target: number, timeoutMs: number): Promise<number | undefined> {
    if (this.value >= target) return Promise.resolve(performance.now());
    return new Promise((resolve) => {
      const check = (): void => {
        if (this.value < target) return;
        this.#waiters.delete(check);
        clearTimeout(timer);
        resolve(performance.now());
      };
      const timer = setTimeout(() => {
        this.#waiters.delete(check);
        resolve(undefined);
      }, timeoutMs);
      this.#waiters.add(check);
    });
  }
}

async function startPostfixSink(
  children: Children,
  host: string,
  port: number,
  mode: 'accept' | 'defer',
): Promise<SinkHandle> {
  const asRoot = process.getuid?.() === 0 ? ['-u', 'nobody'] : [];
  const defer = mode === 'defer' ? ['-r', 'RCPT', '-b', '451 4.3.0 Try again later'] : [];
  const child = await children.spawn('smtp-sink', [
    ...asRoot,
    '-c',
    '-m',
    '2000',
    '-t',
    '30',
    ...defer,
    `${host}:${port}`,
    '2048',
  ]);
  const stderr = tailOf(child.stderr);
  const counter = new Counter();
  let pending = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    pending = (pending + chunk.toString('latin1')).slice(-200);
    const at = pending.lastIndexOf('\r');
    if (at < 0) return;
    const complete = pending.slice(0, at);
    pending = pending.slice(at + 1);
    const last = complete.slice(complete.lastIndexOf('\r') + 1);
    const mesg = /mesg=(\d+)/.exec(last);
    const sess = /sess=(\d+)/.exec(last);
    if (mesg) counter.update(Number(mesg[1]), Number(sess?.[1] ?? counter.sessions));
  });
  const deadline = performance.now() + 5000;
  while (!(await greets(host, port, 500))) {
    if (performance.now() > deadline || child.exitCode !== null)
      throw new Error(`smtp-sink did not start on ${host}:${port}: ${stderr().trim()}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return {
    kind: 'postfix smtp-sink',
    host,
    port,
    pid: child.pid ?? 0,
    child,
    count: () => counter.value,
    sessions: () => counter.sessions,
    observations: counter.observations,
    waitForCount: (target, timeoutMs) => counter.waitFor(target, timeoutMs),
    perDomain: async () => undefined,
  };
}

async function startJsSink(
  children: Children,
  host: string,
  port: number,
  mode: 'accept' | 'defer',
): Promise<SinkHandle> {
  const child = children.fork('./sink-child.ts', [host, String(port), mode]);
  const stderr = tailOf(child.stderr);
  const counter = new Counter();
  child.on('message', (m: { type?: string; count?: number; sessions?: number }) => {
    if (m.type === 'count') counter.update(m.count ?? 0, m.sessions ?? 0);
  });
  let ready: { port: number };
  try {
    ready = await waitMessage<{ port: number }>(child, 'ready', 10_000);
  } catch (error) {
    throw new Error(`JS sink did not start: ${String(error)} ${stderr().trim()}`);
  }
  return {
    kind: 'harness JS sink',
    host,
    port: ready.port,
    pid: child.pid ?? 0,
    child,
    count: () => counter.value,
    sessions: () => counter.sessions,
    observations: counter.observations,
    waitForCount: (target, timeoutMs) => counter.waitFor(target, timeoutMs),
    async perDomain() {
      if (!child.connected) return undefined;
      const reply = waitMessage<{ domains: { domain: string; messages: number; connections: number }[] }>(
        child,
        'domains',
        5000,
      );
      child.send({ type: 'report' });
      return (await reply).domains;
    },
  };
}

export async function startSink(
  children: Children,
  options: { host: string; port?: number; mode: 'accept' | 'defer'; prefer: 'auto' | 'postfix' | 'js' },
): Promise<SinkHandle> {
  if (!isLoopback(options.host)) throw new Error(`sink must be on loopback, not ${options.host}`);
  const port = options.port ?? (await freePort(options.host));
  const usePostfix = options.prefer === 'postfix' || (options.prefer === 'auto' && postfixSinkAvailable());
  return usePostfix
    ? startPostfixSink(children, options.host, port, options.mode)
    : startJsSink(children, options.host, port, options.mode);
}
