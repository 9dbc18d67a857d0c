/**
 * The benchmark's SMTP load generator: N concurrent client loops submitting
 * messages to one SMTP server on loopback.
 *
 * In: `LoadOptions` (target, concurrency, message count and/or duration, size,
 * recipient domains, optional rate limit, connection reuse). Out: a `LoadResult`
 * with per-message DATA-end -> 250 latencies, accept times and error counts;
 * `onAccepted` sees every acknowledged queue id as it arrives. MAIL/RCPT/DATA are
 * pipelined when the server offers PIPELINING. Every socket wait has a timeout;
 * a failed message is counted (never retried) and its connection dropped, so the
 * loop always ends after `count` attempts or at the deadline. Replies come from
 * the server under test and are parsed defensively (bounded line length).
 * Only loopback targets are accepted.
 */
import { connect, type Socket } from 'node:net';

export interface LoadOptions {
  readonly host: string;
  readonly port: number;
  readonly concurrency: number;
  /** Stop after this many attempts (accepted or not). */
  readonly count: number;
  /** Stop issuing new messages after this long (ms); undefined: count only. */
  readonly durationMs?: number;
  /** Approximate message size in bytes (headers included). */
  readonly size: number;
  /** Recipients go to u<n>@d<1..domains>.test in turn. */
  readonly domains: number;
  /** Keep connections open between messages (RSET-free: one transaction after another). */
  readonly reuse: boolean;
  /** Messages per second over all loops; undefined: as fast as the server accepts. */
  readonly ratePerSecond?: number;
  /** Timeout for every network wait (connect, each reply). */
  readonly timeoutMs?: number;
  /** Recipient domain override (queue-scale: everything to one deferring domain). */
  readonly domainOf?: (n: number) => string;
  /** Source addresses to spread connections over (mxpress limits connections per client IP). */
  readonly localAddresses?: readonly string[];
  readonly onAccepted?: (id: string, wallTime: number, latencyMs: number) => void;
}

export interface LoadResult {
  readonly attempted: number;
  readonly accepted: number;
  readonly failed: number;
  /** Failure reasons: reply code or error code -> count. */
  readonly errors: Readonly<Record<string, number>>;
  /** DATA-end -> 250 in ms, in acceptance order. */
  readonly latenciesMs: readonly number[];
  /** performance.now() of each acceptance. */
  readonly acceptedAt: readonly number[];
  readonly startedAt: number;
  readonly endedAt: number;
  readonly connections: number;
  readonly pipelining: boolean;
}

interface Reply {
  readonly code: number;
  readonly lines: readonly string[];
}

const MAX_LINE = 4096;
const MAX_MESSAGES_PER_CONNECTION = 500;
/** Give up when the server refuses (or drops) this share of messages after a fair start. */
const ABORT_FAILED_SHARE = 0.5;
const ABORT_MIN_FAILED = 500;

export function isLoopback(host: string): boolean {
  return /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host) || host === '::1';
}

/** The envelope sender of every message the load sends. */
export const LOAD_SENDER = 'bench@bench.test';

/** The recipient of the load's message `n` at `domain`: an address of its own, as real mail has. */
export function loadRecipient(n: number, domain: string): string {
  return `u${n}@${domain}`;
}

/** A message of about `size` bytes: a few headers, then 76-character lines that never start with a dot. */
export function buildMessage(n: number, to: string, size: number): Buffer {
  const head =
    `From: bench <${LOAD_SENDER}>\r\nTo: <${to}>\r\nSubject: bench message ${n}\r\n` +
    `Message-ID: <${n}.${process.pid}@bench.test>\r\nDate: ${new Date().toUTCString()}\r\n\r\n`;
  const line = `${'0123456789abcdefghijklmnopqrstuvwxyz'.repeat(3).slice(0, 76)}\r\n`;
  const lines = Math.max(1, Math.ceil((size - head.length) / line.length));
  return Buffer.from(head + line.repeat(lines), 'latin1');
}

/** One SMTP connection with an in-order reply queue. */
class Connection {
  readonly socket: Socket;
  #buffer = '';
  #lines: string[] = [];
  #replies: Reply[] = [];
  #waiter: ((reply: Reply | Error) => void) | undefined;
  #failure: Error | undefined;
  #timeoutMs: number;
  messages = 0;
  pipelining = false;

  constructor(socket: Socket, timeoutMs: number) {
    this.socket = socket;
    this.#timeoutMs = timeoutMs;
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.#onData(chunk.toString('latin1')));
    socket.on('error', (error) => this.#fail(error));
    socket.on('close', () => this.#fail(new Error('ECLOSED')));
  }

  #fail(error: Error): void {
    this.#failure ??= error;
    const waiter = this.#waiter;
    this.#waiter = undefined;
    waiter?.(this.#failure);
  }

  #onData(text: string): void {
    this.#buffer += text;
    for (;;) {
      const at = this.#buffer.indexOf('\r\n');
      if (at < 0) break;
      const line = this.#buffer.slice(0, at);
      this.#buffer = this.#buffer.slice(at + 2);
      this.#lines.push(line);
      if (line.length < 4 || line[3] !== '-') {
        this.#replies.push({ code: Number(line.slice(0, 3)) || 0, lines: this.#lines });
        this.#lines = [];
      }
    }
    if (this.#buffer.length > MAX_LINE) {
      this.#fail(new Error('ELONGLINE'));
      this.socket.destroy();
      return;
    }
    const waiter = this.#waiter;
    const next = waiter === undefined ? undefined : this.#replies.shift();
    if (waiter !== undefined && next !== undefined) {
      this.#waiter = undefined;
      waiter(next);
    }
  }

  reply(): Promise<Reply> {
    const ready = this.#replies.shift();
    if (ready !== undefined) return Promise.resolve(ready);
    if (this.#failure !== undefined) return Promise.reject(this.#failure);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiter = undefined;
        reject(new Error('ETIMEOUT'));
      }, this.#timeoutMs);
      this.#waiter = (value) => {
        clearTimeout(timer);
        if (value instanceof Error) reject(value);
        else resolve(value);
      };
    });
  }

  async expect(code: number): Promise<Reply> {
    const reply = await this.reply();
    if (reply.code !== code) throw new ReplyError(reply);
    return reply;
  }

  write(data: string | Buffer): void {
    this.socket.write(data);
  }

  /**
   * QUIT and wait for its reply, as a well-behaved client does: leaving before
   * the server saw the end would pile up half-closed sessions that count against
   * mxpress's per-client connection limit.
   */
  async quit(): Promise<void> {
    if (this.#failure === undefined && !this.socket.destroyed) {
      this.write('QUIT\r\n');
      await this.reply().catch(() => undefined);
    }
    this.socket.destroy();
  }
}

class ReplyError extends Error {
  readonly code: number;
  constructor(reply: Reply) {
    super(reply.lines.join(' | '));
    this.code = reply.code;
  }
}

function open(host: string, port: number, timeoutMs: number, localAddress?: string): Promise<Connection> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port, ...(localAddress ? { localAddress } : {}) });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error('ECONNTIMEOUT'));
    }, timeoutMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      resolve(new Connection(socket, timeoutMs));
    });
    socket.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
  });
}

async function greet(connection: Connection): Promise<void> {
  await connection.expect(220);
  connection.write('EHLO load.bench.test\r\n');
  const ehlo = await connection.expect(250);
  connection.pipelining = ehlo.lines.some((l) => l.slice(4).toUpperCase() === 'PIPELINING');
}

/** Sends one message; returns the queue id (or '' when the reply names none) and the DATA->250 time. */
async function transact(
  connection: Connection,
  from: string,
  to: string,
  body: Buffer,
): Promise<{ id: string; latencyMs: number }> {
  const mail = `MAIL FROM:<${from}> SIZE=${body.length}\r\n`;
  const rcpt = `RCPT TO:<${to}>\r\n`;
  if (connection.pipelining) {
    connection.write(`${mail}${rcpt}DATA\r\n`);
    const replies = [await connection.reply(), await connection.reply(), await connection.reply()];
    const [m, r, d] = replies as [Reply, Reply, Reply];
    if (m.code !== 250) throw new ReplyError(m);
    if (r.code !== 250) throw new ReplyError(r);
    if (d.code !== 354) throw new ReplyError(d);
  } else {
    connection.write(mail);
    await connection.expect(250);
    connection.write(rcpt);
    await connection.expect(250);
    connection.write('DATA\r\n');
    await connection.expect(354);
  }
  connection.socket.cork();
  connection.write(body);
  const t0 = performance.now();
  connection.write('.\r\n');
  connection.socket.uncork();
  const reply = await connection.expect(250);
  const latencyMs = performance.now() - t0;
  const id = /queued as ([0-9A-Za-z]+)/.exec(reply.lines[0] ?? '')?.[1] ?? '';
  connection.messages += 1;
  return { id, latencyMs };
}

function errorKey(error: unknown): string {
  if (error instanceof ReplyError) return error.message.slice(0, 60);
  if (error instanceof Error) return (error as NodeJS.ErrnoException).code ?? error.message.slice(0, 40);
  return 'unknown';
}

export async function runLoad(options: LoadOptions): Promise<LoadResult> {
  if (!isLoopback(options.host)) throw new Error(`refusing a non-loopback target ${options.host}`);
  for (const a of options.localAddresses ?? [])
    if (!isLoopback(a)) throw new Error(`refusing a non-loopback source ${a}`);
  const timeoutMs = options.timeoutMs ?? 10_000;
  const domainOf = options.domainOf ?? ((n: number) => `d${(n % options.domains) + 1}.test`);
  const sources = options.localAddresses ?? [];
  const latencies: number[] = [];
  const acceptedAt: number[] = [];
  const errors: Record<string, number> = {};
  /** Message numbers handed out (a rate-limited one may still be dropped at the deadline). */
  let issued = 0;
  let attempted = 0;
  let failed = 0;
  let connections = 0;
  let pipelining = false;
  let aborted = false;
  const startedAt = performance.now();
  const deadline = options.durationMs === undefined ? Infinity : startedAt + options.durationMs;
  const slotMs = options.ratePerSecond ? 1000 / options.ratePerSecond : 0;

  /** The next message number, after waiting for its slot when rate-limited; undefined when done. */
  const nextMessage = async (): Promise<number | undefined> => {
    if (aborted || issued >= options.count || performance.now() >= deadline) return undefined;
    const n = issued++;
    if (slotMs > 0) {
      const slot = startedAt + n * slotMs;
      if (slot >= deadline) return undefined;
      const wait = slot - performance.now();
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
      if (aborted || performance.now() >= deadline) return undefined;
    }
    attempted += 1;
    return n;
  };

  const fail = (error: unknown): void => {
    failed += 1;
    const key = errorKey(error);
    errors[key] = (errors[key] ?? 0) + 1;
    if (failed >= ABORT_MIN_FAILED && failed > ABORT_FAILED_SHARE * attempted) aborted = true;
  };

  const loop = async (index: number): Promise<void> => {
    const localAddress = sources.length > 0 ? sources[index % sources.length] : undefined;
    let connection: Connection | undefined;
    for (let n = await nextMessage(); n !== undefined; n = await nextMessage()) {
      try {
        if (connection === undefined) {
          connection = await open(options.host, options.port, timeoutMs, localAddress);
          connections += 1;
          await greet(connection);
          pipelining ||= connection.pipelining;
        }
        const to = loadRecipient(n, domainOf(n));
        const { id, latencyMs } = await transact(
          connection,
          LOAD_SENDER,
          to,
          buildMessage(n, to, options.size),
        );
        latencies.push(latencyMs);
        acceptedAt.push(performance.now());
        options.onAccepted?.(id, Date.now(), latencyMs);
        if (!options.reuse || connection.messages >= MAX_MESSAGES_PER_CONNECTION) {
          await connection.quit();
          connection = undefined;
        }
      } catch (error) {
        fail(error);
        connection?.socket.destroy();
        connection = undefined;
      }
    }
    await connection?.quit();
  };

  await Promise.all(Array.from({ length: options.concurrency }, (_, i) => loop(i)));
  return {
    attempted,
    accepted: latencies.length,
    failed,
    errors,
    latenciesMs: latencies,
    acceptedAt,
    startedAt,
    endedAt: performance.now(),
    connections,
    pipelining,
  };
}
