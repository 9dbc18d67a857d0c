/**
 * The webhook outbox: delivers stored lifecycle events to each configured URL,
 * durably, in order, at least once.
 *
 * In: the `feedback.webhooks` config, a FeedbackStore for cursors, and
 * `eventsSince(after, limit)` (the spool's stored events, oldest first). Out: one
 * signed POST per event (signing.ts; body `{ type, timestamp, data: <event> }`,
 * `webhook-id` `evt_<seq>` as the receiver's idempotency key), status for the API,
 * `replaySince` to move a cursor.
 *
 * Each webhook runs its own loop, so a dead receiver never holds up the others. The
 * loop reads events after its cursor, skips those its `events` filter leaves out,
 * and POSTs the rest one at a time; a 2xx moves the cursor (stored before the next
 * event is sent, so a restart re-sends at most the one in flight). Anything else
 * (non-2xx, redirect, network error, 10 s timeout) records the failure and waits
 * `retryDelay` (2 s doubling to 1 h, with jitter) before trying the SAME event again:
 * order is kept. `notify()` wakes idle loops at once; a slow poll covers events
 * stored without a notification. A webhook with no stored cursor starts at seq 0
 * (every stored event). Credentials in a URL are sent as HTTP Basic authorization;
 * redirects are not followed. Receiver replies are UNTRUSTED: only the status code is
 * used, the body is discarded unread. Secrets and URL queries are never logged.
 */
import { createHash } from 'node:crypto';
import type { WebhookConfig } from '../../config/types.ts';
import type { LifecycleEvent } from '../../contracts/events.ts';
import type { FeedbackStore, WebhookCursor } from '../../contracts/feedback-store.ts';
import { signedHeaders } from './signing.ts';
import { retryDelay, Wake } from './wake.ts';

export type EventsSince = (after: number, limit: number) => Promise<readonly LifecycleEvent[]>;
type Log = (
  level: 'debug' | 'info' | 'warn' | 'error',
  message: string,
  fields?: Record<string, unknown>,
) => void;

export interface WebhookDispatcherOptions {
  readonly webhooks: readonly WebhookConfig[];
  readonly store: FeedbackStore;
  readonly eventsSince: EventsSince;
  readonly log?: Log;
  /** Per request, until the response headers arrive. Default 10 s. */
  readonly timeoutMs?: number;
  /** First retry delay (default 2 s) and cap (default 1 h). */
  readonly retryBaseMs?: number;
  readonly retryCapMs?: number;
  /** Events read per batch (default 100). */
  readonly batchSize?: number;
  /** Idle re-check without a notification (default 30 s). */
  readonly pollMs?: number;
  readonly now?: () => number;
  readonly random?: () => number;
}

export interface WebhookStatus {
  readonly id: string;
  /** The URL without credentials or query. */
  readonly url: string;
  /** Event types sent, or 'all'. */
  readonly events: readonly string[] | 'all';
  /** Seq of the last event delivered (or skipped by the filter). */
  readonly cursor: number;
  /** Events after the cursor that this webhook will send, counted up to LAG_LIMIT. */
  readonly lag: number;
  readonly lagCapped: boolean;
  /** ISO time of the oldest event still to send. */
  readonly oldestPendingAt?: string;
  /** Failed attempts in a row for the next event. */
  readonly failures: number;
  readonly nextAttemptAt?: string;
  readonly lastError?: string;
  readonly lastSuccessAt?: string;
  /**
   * Events this webhook never sent because they were purged first (held past
   * `feedback.webhookHold`) since mxpress started: how many seqs it skipped (filtered
   * types included), up to which seq, and when it last did.
   */
  readonly skipped?: { readonly events: number; readonly throughSeq: number; readonly at: string };
}

export const LAG_LIMIT = 1000;

/** A stable id per URL: the cursor is keyed on it across restarts. */
export function webhookId(url: string): string {
  return `wh_${createHash('sha256').update(url).digest('hex').slice(0, 12)}`;
}

/** What may be shown or logged of a webhook URL: scheme, host, port and path. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.origin}${u.pathname}${u.search === '' ? '' : '?...'}`;
  } catch {
    return '(invalid URL)';
  }
}

/**
 * The URL to POST to and its extra headers: fetch refuses URLs with credentials, so
 * `user:password@` becomes HTTP Basic authorization.
 */
function target(url: string): { url: string; headers: Record<string, string> } {
  const u = new URL(url);
  if (u.username === '' && u.password === '') return { url, headers: {} };
  const credentials = `${decodeURIComponent(u.username)}:${decodeURIComponent(u.password)}`;
  u.username = '';
  u.password = '';
  return { url: u.href, headers: { authorization: `Basic ${Buffer.from(credentials).toString('base64')}` } };
}

interface Hook {
  readonly id: string;
  readonly config: WebhookConfig;
  readonly target: { readonly url: string; readonly headers: Readonly<Record<string, string>> };
  readonly filter: ReadonlySet<string> | undefined;
  readonly wake: Wake;
  cursor: WebhookCursor;
  /** Bumped by replaySince; a loop drops work begun under an older generation. */
  generation: number;
  /** Cursor writes, in call order. */
  writes: Promise<void>;
  loop?: Promise<void>;
  skipped?: { events: number; throughSeq: number; at: number };
}

type PostResult = { readonly ok: true } | { readonly ok: false; readonly error: string };

export class WebhookDispatcher {
  readonly #store: FeedbackStore;
  readonly #eventsSince: EventsSince;
  readonly #log: Log;
  readonly #timeoutMs: number;
  readonly #retryBaseMs: number;
  readonly #retryCapMs: number;
  readonly #batchSize: number;
  readonly #pollMs: number;
  readonly #now: () => number;
  readonly #random: () => number;
  readonly #hooks: Hook[] = [];
  readonly #abort = new AbortController();
  #started = false;

  constructor(options: WebhookDispatcherOptions) {
    this.#store = options.store;
    this.#eventsSince = options.eventsSince;
    this.#log = options.log ?? (() => {});
    this.#timeoutMs = options.timeoutMs ?? 10_000;
    this.#retryBaseMs = options.retryBaseMs ?? 2000;
    this.#retryCapMs = options.retryCapMs ?? 3_600_000;
    this.#batchSize = options.batchSize ?? 100;
    this.#pollMs = options.pollMs ?? 30_000;
    this.#now = options.now ?? Date.now;
    this.#random = options.random ?? Math.random;
    const seen = new Map<string, number>();
    for (const config of options.webhooks) {
      const base = webhookId(config.url);
      const count = (seen.get(base) ?? 0) + 1;
      seen.set(base, count);
      const id = count === 1 ? base : `${base}-${count}`;
      this.#hooks.push({
        id,
        config,
        target: target(config.url),
        filter: config.events === undefined ? undefined : new Set(config.events),
        wake: new Wake(),
        cursor: { webhookId: id, lastSeq: 0, attempts: 0, nextAttemptAt: 0, updatedAt: 0 },
        generation: 0,
        writes: Promise.resolve(),
      });
    }
  }

  get ids(): readonly string[] {
    return this.#hooks.map((h) => h.id);
  }

  /** The lowest cursor (the last event every webhook has taken); undefined without webhooks. */
  get oldestCursor(): number | undefined {
    if (this.#hooks.length === 0) return undefined;
    return Math.min(...this.#hooks.map((h) => h.cursor.lastSeq));
  }

  /** Loads each webhook's cursor and starts its loop. Rejects if the store cannot be read. */
  async start(): Promise<void> {
    if (this.#started) throw new Error('webhook dispatcher already started');
    this.#started = true;
    for (const hook of this.#hooks) {
      hook.cursor = (await this.#store.getCursor(hook.id)) ?? hook.cursor;
    }
    for (const hook of this.#hooks) hook.loop = this.#run(hook);
  }

  /** New events were stored: idle loops look at once (backing-off ones keep waiting). */
  notify(): void {
    for (const hook of this.#hooks) hook.wake.notify();
  }

  /**
   * Re-sends every event with seq >= `since` (also moves forward when `since` is past
   * the cursor) and clears the backoff. Rejects for an unknown id.
   */
  async replaySince(id: string, since: number): Promise<WebhookCursor> {
    const hook = this.#hooks.find((h) => h.id === id);
    if (!hook) throw new Error(`no webhook ${id}`);
    hook.generation++;
    hook.cursor = {
      webhookId: id,
      lastSeq: Math.max(0, Math.floor(since) - 1),
      attempts: 0,
      nextAttemptAt: 0,
      ...(hook.cursor.lastSuccessAt === undefined ? {} : { lastSuccessAt: hook.cursor.lastSuccessAt }),
      updatedAt: this.#now(),
    };
    await this.#persist(hook);
    this.#log('info', 'webhook replay', { webhook: id, since });
    hook.wake.notify();
    return hook.cursor;
  }

  /**
   * Events up to `throughSeq` were purged (held too long): every webhook still behind
   * skips past them, keeps its backoff, and says so in its status and the log.
   */
  async skipPurged(throughSeq: number): Promise<void> {
    for (const hook of this.#hooks) {
      const from = hook.cursor.lastSeq;
      if (from >= throughSeq) continue;
      const now = this.#now();
      hook.generation++;
      hook.cursor = { ...hook.cursor, lastSeq: throughSeq, updatedAt: now };
      hook.skipped = { events: (hook.skipped?.events ?? 0) + (throughSeq - from), throughSeq, at: now };
      this.#log('warn', 'webhook events purged before they could be sent; skipping past them', {
        webhook: hook.id,
        url: redactUrl(hook.config.url),
        fromSeq: from + 1,
        throughSeq,
      });
      await this.#persist(hook);
      hook.wake.notify();
    }
  }

  async status(): Promise<WebhookStatus[]> {
    const out: WebhookStatus[] = [];
    for (const hook of this.#hooks) {
      const c = hook.cursor;
      const ahead = await this.#eventsSince(c.lastSeq, LAG_LIMIT);
      const pending = ahead.filter((e) => hook.filter === undefined || hook.filter.has(e.type));
      const first = pending[0];
      out.push({
        id: hook.id,
        url: redactUrl(hook.config.url),
        events: hook.filter === undefined ? 'all' : [...hook.filter],
        cursor: c.lastSeq,
        lag: pending.length,
        lagCapped: ahead.length >= LAG_LIMIT,
        ...(first ? { oldestPendingAt: new Date(first.at).toISOString() } : {}),
        failures: c.attempts,
        ...(c.nextAttemptAt > 0 ? { nextAttemptAt: new Date(c.nextAttemptAt).toISOString() } : {}),
        ...(c.lastError === undefined ? {} : { lastError: c.lastError }),
        ...(c.lastSuccessAt === undefined ? {} : { lastSuccessAt: new Date(c.lastSuccessAt).toISOString() }),
        ...(hook.skipped === undefined
          ? {}
          : {
              skipped: {
                events: hook.skipped.events,
                throughSeq: hook.skipped.throughSeq,
                at: new Date(hook.skipped.at).toISOString(),
              },
            }),
      });
    }
    return out;
  }

  /** Aborts requests in flight (their events are sent again after a restart) and ends the loops. */
  async stop(): Promise<void> {
    this.#abort.abort();
    for (const hook of this.#hooks) hook.wake.close();
    await Promise.all(
      this.#hooks.map(async (h) => {
        await h.loop;
        await h.writes;
      }),
    );
  }

  async #run(hook: Hook): Promise<void> {
    while (!hook.wake.closed) {
      try {
        const due = hook.cursor.nextAttemptAt - this.#now();
        if (due > 0) await hook.wake.wait(due);
        else if (!(await this.#batch(hook))) await hook.wake.wait(this.#pollMs);
      } catch (error) {
        // Reading events or storing the cursor failed: say so and try again later.
        this.#log('error', 'webhook loop failed', { webhook: hook.id, error: String(error) });
        await hook.wake.wait(this.#retryBaseMs);
      }
    }
  }

  /** Sends what is after the cursor; false when there was nothing to read. */
  async #batch(hook: Hook): Promise<boolean> {
    const generation = hook.generation;
    const events = await this.#eventsSince(hook.cursor.lastSeq, this.#batchSize);
    if (events.length === 0) return false;
    let skipped = false;
    for (const event of events) {
      if (hook.wake.closed || generation !== hook.generation) return true;
      if (hook.filter !== undefined && !hook.filter.has(event.type)) {
        hook.cursor = { ...hook.cursor, lastSeq: event.seq, updatedAt: this.#now() };
        skipped = true;
        continue;
      }
      const result = await this.#post(hook, event);
      if (hook.wake.closed || generation !== hook.generation) return true;
      const now = this.#now();
      if (result.ok) {
        hook.cursor = {
          webhookId: hook.id,
          lastSeq: event.seq,
          attempts: 0,
          nextAttemptAt: 0,
          lastSuccessAt: now,
          updatedAt: now,
        };
        skipped = false;
        await this.#persist(hook);
        continue;
      }
      const attempts = hook.cursor.attempts + 1;
      const delay = retryDelay(attempts, this.#retryBaseMs, this.#retryCapMs, this.#random);
      hook.cursor = {
        ...hook.cursor,
        attempts,
        nextAttemptAt: now + delay,
        lastError: result.error,
        updatedAt: now,
      };
      await this.#persist(hook);
      this.#log('warn', 'webhook delivery failed', {
        webhook: hook.id,
        url: redactUrl(hook.config.url),
        seq: event.seq,
        attempts,
        retryInMs: delay,
        error: result.error,
      });
      return true;
    }
    if (skipped) await this.#persist(hook);
    return true;
  }

  async #post(hook: Hook, event: LifecycleEvent): Promise<PostResult> {
    const body = JSON.stringify({
      type: event.type,
      timestamp: new Date(event.at).toISOString(),
      data: event,
    });
    const timestamp = Math.floor(this.#now() / 1000);
    const signal = AbortSignal.any([AbortSignal.timeout(this.#timeoutMs), this.#abort.signal]);
    try {
      const response = await fetch(hook.target.url, {
        method: 'POST',
        body,
        headers: {
          'content-type': 'application/json',
          'user-agent': 'mxpress-webhooks',
          ...hook.target.headers,
          ...signedHeaders(hook.config.secret, `evt_${event.seq}`, timestamp, body),
        },
        redirect: 'manual',
        signal,
      });
      await response.body?.cancel().catch(() => {});
      if (response.status >= 200 && response.status < 300) return { ok: true };
      const redirect = response.status >= 300 && response.status < 400 ? ' (redirects are not followed)' : '';
      return { ok: false, error: `HTTP ${response.status}${redirect}` };
    } catch (error) {
      if (signal.aborted && !this.#abort.signal.aborted) {
        return { ok: false, error: `no response within ${this.#timeoutMs} ms` };
      }
      const cause = (error as { cause?: { code?: unknown; message?: unknown } }).cause;
      const detail = typeof cause?.code === 'string' ? cause.code : String(cause?.message ?? error);
      return { ok: false, error: `request failed: ${detail}` };
    }
  }

  /** Stores the hook's cursor as it is now, after any earlier write of it. */
  #persist(hook: Hook): Promise<void> {
    const snapshot = hook.cursor;
    const write = hook.writes.then(() => this.#store.putCursor(snapshot));
    hook.writes = write.catch(() => {});
    return write;
  }
}
