/**
 * The few mxpress HTTP API reads the benchmark needs: GET /api/v1/stats,
 * GET /api/v1/messages/{id}, a timed search (GET /api/v1/messages?...), and a prober
 * that follows sampled messages until they are delivered.
 *
 * In: the API base URL (loopback). Out: typed, defensively read figures (a
 * missing field reads as 0). Every request has a timeout; `getStats` rejects on
 * a failed request, the prober counts failures and keeps going. The server's
 * JSON is parsed as untrusted input (only numbers and known strings are read).
 */

export interface StatsFigures {
  readonly commitGroups: { readonly groups: number; readonly items: number };
  readonly delivery: {
    readonly destinations: number;
    readonly queuedJobs: number;
    readonly activeConnections: number;
    readonly connectionsOpened: number;
    readonly messagesSent: number;
    readonly messagesChained: number;
  };
  readonly inFlight: number;
  readonly rssBytes: number;
  readonly recipientsByStatus: Readonly<Record<string, number>>;
  readonly messages: number;
}

const num = (value: unknown): number => (typeof value === 'number' && Number.isFinite(value) ? value : 0);
const obj = (value: unknown): Record<string, unknown> =>
  typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : {};

export async function getJson(url: string, timeoutMs = 5000): Promise<{ status: number; body: unknown }> {
  const response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  const text = await response.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  return { status: response.status, body };
}

export async function getStats(base: string): Promise<StatsFigures> {
  const { status, body } = await getJson(`${base}/api/v1/stats`);
  if (status !== 200) throw new Error(`GET /api/v1/stats answered ${status}`);
  const root = obj(body);
  const groups = obj(root.commitGroups);
  const delivery = obj(root.delivery);
  const spool = obj(root.spool);
  const byStatus: Record<string, number> = {};
  for (const [k, v] of Object.entries(obj(spool.recipientsByStatus))) byStatus[k] = num(v);
  return {
    commitGroups: { groups: num(groups.groups), items: num(groups.items) },
    delivery: {
      destinations: num(delivery.destinations),
      queuedJobs: num(delivery.queuedJobs),
      activeConnections: num(delivery.activeConnections),
      connectionsOpened: num(delivery.connectionsOpened),
      messagesSent: num(delivery.messagesSent),
      messagesChained: num(delivery.messagesChained),
    },
    inFlight: num(obj(root.queue).inFlight),
    rssBytes: num(obj(root.process).rssBytes),
    recipientsByStatus: byStatus,
    messages: num(spool.messages),
  };
}

/** One page of `GET /api/v1/messages?<query>`: how many messages it held. Rejects unless 200. */
export async function searchMessages(base: string, query: string): Promise<number> {
  const { status, body } = await getJson(`${base}/api/v1/messages?${query}`, 30_000);
  if (status !== 200) throw new Error(`GET /api/v1/messages?${query} answered ${status}`);
  const messages = obj(body).messages;
  return Array.isArray(messages) ? messages.length : 0;
}

/** Epoch ms when every recipient of the message was delivered, 'pending', or 'failed' (final, not delivered). */
export async function deliveredAt(base: string, id: string): Promise<number | 'pending' | 'failed'> {
  const { status, body } = await getJson(`${base}/api/v1/messages/${encodeURIComponent(id)}`, 2000);
  if (status !== 200) return 'pending';
  const recipients = obj(body).recipients;
  if (!Array.isArray(recipients) || recipients.length === 0) return 'pending';
  let latest = 0;
  for (const r of recipients) {
    const s = obj(r).status;
    if (s === 'queued' || s === 'deferred') return 'pending';
    if (s !== 'delivered') return 'failed';
    const updated = Date.parse(String(obj(r).updatedAt));
    if (Number.isFinite(updated)) latest = Math.max(latest, updated);
  }
  return latest;
}

export interface ProbeResult {
  /** 250 -> recorded as delivered, ms, for each sampled message that was delivered. */
  readonly latenciesMs: number[];
  /** Remote's reply -> the event read off the live stream, ms (stream timing only). */
  readonly feedbackMs?: number[];
  readonly sampled: number;
  readonly undelivered: number;
  readonly requests: number;
  readonly requestErrors: number;
}

/**
 * Follows sampled message ids: each pending one is polled every `intervalMs`
 * (at most `maxInFlight` requests at once) until delivered or `finish`'s timeout.
 * The delivery time is the recipient's `updatedAt` as the server recorded it.
 */
export class DeliveryProber {
  #base: string;
  #intervalMs: number;
  #maxInFlight: number;
  #pending = new Map<string, { acceptedWall: number; nextPoll: number }>();
  #inFlight = 0;
  #timer: NodeJS.Timeout | undefined;
  #result = { latenciesMs: [] as number[], sampled: 0, undelivered: 0, requests: 0, requestErrors: 0 };
  #waiters = new Set<() => void>();

  constructor(base: string, options: { intervalMs?: number; maxInFlight?: number } = {}) {
    this.#base = base;
    this.#intervalMs = options.intervalMs ?? 10;
    this.#maxInFlight = options.maxInFlight ?? 8;
  }

  add(id: string, acceptedWall: number): void {
    this.#result.sampled += 1;
    this.#pending.set(id, { acceptedWall, nextPoll: performance.now() + this.#intervalMs });
    this.#timer ??= setInterval(() => this.#tick(), Math.max(1, Math.floor(this.#intervalMs / 2)));
  }

  #tick(): void {
    const now = performance.now();
    for (const [id, entry] of this.#pending) {
      if (this.#inFlight >= this.#maxInFlight) break;
      if (entry.nextPoll > now) continue;
      entry.nextPoll = Number.POSITIVE_INFINITY;
      this.#inFlight += 1;
      this.#result.requests += 1;
      deliveredAt(this.#base, id)
        .then(
          (at) => {
            if (at === 'pending') {
              entry.nextPoll = performance.now() + this.#intervalMs;
              return;
            }
            this.#pending.delete(id);
            if (at === 'failed') this.#result.undelivered += 1;
            else this.#result.latenciesMs.push(at - entry.acceptedWall);
          },
          () => {
            this.#result.requestErrors += 1;
            entry.nextPoll = performance.now() + this.#intervalMs;
          },
        )
        .finally(() => {
          this.#inFlight -= 1;
          for (const wake of [...this.#waiters]) wake();
        });
    }
  }

  /** Waits until no sampled id is pending (or `timeoutMs`), then stops polling. */
  async finish(timeoutMs: number): Promise<ProbeResult> {
    if (this.#pending.size > 0 || this.#inFlight > 0) {
      await new Promise<void>((resolve) => {
        const check = (): void => {
          if (this.#pending.size > 0 || this.#inFlight > 0) return;
          this.#waiters.delete(check);
          clearTimeout(timer);
          resolve();
        };
        const timer = setTimeout(() => {
          this.#waiters.delete(check);
          resolve();
        }, timeoutMs);
        this.#waiters.add(check);
      });
    }
    clearInterval(this.#timer);
    this.#timer = undefined;
    this.#result.undelivered += this.#pending.size;
    this.#pending.clear();
    return { ...this.#result, latenciesMs: [...this.#result.latenciesMs] };
  }
}
