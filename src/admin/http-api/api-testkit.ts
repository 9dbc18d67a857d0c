/**
 * Test helpers for the HTTP API (test code only): a real API on 127.0.0.1 over a
 * real SQLite spool, acceptor and event bus (no delivery side, so stored messages
 * stay as the test left them), plus small HTTP and SSE client helpers that wait
 * on data with time limits. Always call `close()`.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { DEFAULT_LIMITS } from '../../config/defaults.ts';
import type { SmtpLimits } from '../../config/types.ts';
import { EventBus } from '../../feedback/event-bus.ts';
import { type Acceptor, createAcceptor } from '../../ingress/accept.ts';
import { createSqliteSpool, type SqliteSpool } from '../../spool/sqlite/index.ts';
import { type SseMessage, SseParser } from '../cli/api-client.ts';
import { type ApiDeps, buildHttpApi } from './server.ts';

export interface TestApi {
  readonly base: string;
  readonly spool: SqliteSpool;
  readonly bus: EventBus;
  readonly acceptor: Acceptor;
  readonly app: FastifyInstance;
  /** How often the API poked the queue. */
  readonly pokes: () => number;
  /** Commits a small message through the acceptor (stored and its `received` event published); resolves with its id. */
  accept(message: { from: string; to: readonly string[]; subject: string }): Promise<string>;
  close(): Promise<void>;
}

export interface TestApiOptions {
  readonly limits?: Partial<SmtpLimits>;
  readonly extra?: Partial<ApiDeps>;
}

export async function startTestApi(options: TestApiOptions = {}): Promise<TestApi> {
  const dir = await mkdtemp(join(tmpdir(), 'mxpress-api-'));
  const bus = new EventBus();
  // As in the runtime: the spool publishes every event it stores.
  const spool = createSqliteSpool({
    dataDir: dir,
    inProcess: true,
    onStored: (events) => bus.publish(events),
  });
  await spool.open();
  const acceptor = createAcceptor({ spool, hostname: 'mx.api.test' });
  let pokes = 0;
  const app = buildHttpApi({
    spool,
    runtimeStats: () => ({ test: true }),
    tokenHashes: [],
    acceptor,
    limits: { ...DEFAULT_LIMITS, ...options.limits },
    freeBytes: () => Number.MAX_SAFE_INTEGER,
    pokeQueue: () => {
      pokes += 1;
    },
    subscribe: (listener) => bus.subscribe(listener),
    ...options.extra,
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  if (typeof address !== 'object' || address === null) throw new Error('no address');
  return {
    base: `http://127.0.0.1:${address.port}`,
    spool,
    bus,
    acceptor,
    app,
    pokes: () => pokes,
    async accept({ from, to, subject }) {
      const accepted = await acceptor.accept({
        envelope: {
          mailFrom: from,
          recipients: to.map((address) => ({ address })),
          bodyType: '7BIT',
          smtputf8: false,
        },
        origin: {
          kind: 'http',
          listener: 'api',
          clientIp: '127.0.0.1',
          clientPort: 1,
          helo: '',
          protocol: 'HTTP',
        },
        content: [Buffer.from(`Subject: ${subject}\r\n\r\nx\r\n`)],
      });
      return accepted.id;
    },
    async close() {
      await app.close();
      await spool.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export interface JsonReply {
  readonly status: number;
  readonly headers: Headers;
  readonly body: Record<string, unknown>;
}

/** A request with a 10 s limit; the body is parsed as JSON (problem documents too). */
export async function request(
  url: string,
  init: { method?: string; json?: unknown; body?: string | Buffer; headers?: Record<string, string> } = {},
): Promise<JsonReply> {
  const headers: Record<string, string> = { ...init.headers };
  let body: string | Buffer | undefined = init.body;
  if (init.json !== undefined) {
    headers['content-type'] ??= 'application/json';
    body = JSON.stringify(init.json);
  }
  const response = await fetch(url, {
    method: init.method ?? (body === undefined ? 'GET' : 'POST'),
    headers,
    ...(body !== undefined ? { body } : {}),
    signal: AbortSignal.timeout(10_000),
  });
  const text = await response.text();
  return { status: response.status, headers: response.headers, body: text === '' ? {} : JSON.parse(text) };
}

export interface SseReader {
  /** Waits for the next `count` events (heartbeat comments are skipped). */
  next(count: number, timeoutMs?: number): Promise<SseMessage[]>;
  /** Raw text received so far (comments included). */
  readonly raw: () => string;
  /** Waits until the raw text matches `pattern`. */
  waitRaw(pattern: RegExp, timeoutMs?: number): Promise<void>;
  /** Resolves when the server ends the response. */
  readonly ended: Promise<void>;
  close(): void;
}

/** Opens an SSE stream and reads it in the background; `headers` may carry Last-Event-ID. */
export async function openSse(url: string, headers: Record<string, string> = {}): Promise<SseReader> {
  const controller = new AbortController();
  const response = await fetch(url, {
    headers: { accept: 'text/event-stream', ...headers },
    signal: AbortSignal.any([controller.signal, AbortSignal.timeout(60_000)]),
  });
  if (response.status !== 200 || response.body === null) {
    throw new Error(`SSE status ${response.status}: ${await response.text()}`);
  }
  const parser = new SseParser();
  const queue: SseMessage[] = [];
  let raw = '';
  let wake: (() => void) | undefined;
  const decoder = new TextDecoder();
  const body = response.body;
  const ended = (async () => {
    try {
      for await (const chunk of body) {
        const text = decoder.decode(chunk, { stream: true });
        raw += text;
        queue.push(...parser.push(text));
        wake?.();
      }
    } catch {
      // Aborted by close() or the time limit.
    }
    wake?.();
  })();
  let done = false;
  void ended.then(() => {
    done = true;
  });
  /** Waits for more data until `ready()` holds; throws with `what` on end or timeout. */
  const until = async (ready: () => boolean, timeoutMs: number, what: () => string): Promise<void> => {
    const deadline = Date.now() + timeoutMs;
    while (!ready()) {
      if (done) throw new Error(`stream ended: ${what()}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out: ${what()}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  };
  return {
    async next(count, timeoutMs = 10_000) {
      await until(
        () => queue.length >= count,
        timeoutMs,
        () => `${queue.length} of ${count} events`,
      );
      return queue.splice(0, count);
    },
    async waitRaw(pattern, timeoutMs = 10_000) {
      await until(
        () => pattern.test(raw),
        timeoutMs,
        () => `no ${pattern} in ${raw.length} characters`,
      );
    },
    raw: () => raw,
    ended,
    close: () => controller.abort(),
  };
}
