/**
 * Follows mxpress's live event stream (GET /api/v1/events?types=delivered,
 * Server-Sent Events) to time every accepted message from its 250 to its
 * `delivered` event, without polling.
 *
 * In: the API base URL; `accepted(id, wallMs)` for each message the load
 * generator got a 250 for. Out: `finish()` gives 250 -> delivered in ms per
 * message (the event's `at`, stamped by mxpress, minus the client's wall clock
 * at the 250: one machine, one clock). `open` resolves undefined when the route
 * is missing or the server says live events are unavailable, so the caller can
 * fall back to polling. The stream is untrusted input: bounded buffer, only
 * `messageId` and `at` are read, malformed events are skipped.
 */
import type { ProbeResult } from './api.ts';

const MAX_BUFFER = 1024 * 1024;
/** How long to listen for an "unavailable" notice before trusting the stream. */
const SETTLE_MS = 300;

export class DeliveredStream {
  #abort: AbortController;
  /** messageId -> client wall time of its 250, while its delivery is awaited. */
  #waiting = new Map<string, number>();
  /** Deliveries that arrived before their 250 was seen (bounded). */
  #early = new Map<string, number>();
  #latencies: number[] = [];
  /** The remote's final reply (attempt start + duration) -> this event read here. */
  #feedback: number[] = [];
  #accepted = 0;
  #events = 0;
  #waiters = new Set<() => void>();
  unavailable = false;

  private constructor(abort: AbortController) {
    this.#abort = abort;
  }

  static async open(base: string, timeoutMs = 5000): Promise<DeliveredStream | undefined> {
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), timeoutMs);
    let response: Response;
    try {
      response = await fetch(`${base}/api/v1/events?types=delivered`, { signal: abort.signal });
    } catch {
      return undefined;
    } finally {
      clearTimeout(timer);
    }
    if (response.status !== 200 || !response.headers.get('content-type')?.includes('text/event-stream')) {
      await response.body?.cancel().catch(() => undefined);
      return undefined;
    }
    const stream = new DeliveredStream(abort);
    stream.#read(response).catch(() => undefined);
    await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
    if (stream.unavailable) {
      stream.close();
      return undefined;
    }
    return stream;
  }

  async #read(response: Response): Promise<void> {
    const reader = response.body?.getReader();
    if (reader === undefined) return;
    const decoder = new TextDecoder();
    let buffer = '';
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      buffer += decoder.decode(value, { stream: true });
      if (buffer.length > MAX_BUFFER) buffer = buffer.slice(-MAX_BUFFER);
      for (let end = buffer.indexOf('\n\n'); end >= 0; end = buffer.indexOf('\n\n')) {
        this.#block(buffer.slice(0, end));
        buffer = buffer.slice(end + 2);
      }
    }
  }

  #block(block: string): void {
    let data = '';
    for (const line of block.split('\n')) {
      if (line.startsWith(':') && line.includes('not available')) this.unavailable = true;
      if (line.startsWith('data:')) data += line.slice(5).trim();
    }
    if (data === '') return;
    let event: {
      messageId?: unknown;
      at?: unknown;
      type?: unknown;
      attempt?: { at?: unknown; durationMs?: unknown };
    };
    try {
      event = JSON.parse(data);
    } catch {
      return;
    }
    if (event.type !== 'delivered' || typeof event.messageId !== 'string' || typeof event.at !== 'number')
      return;
    this.#events += 1;
    const attempt = event.attempt;
    if (
      attempt &&
      typeof attempt.at === 'number' &&
      typeof attempt.durationMs === 'number' &&
      this.#feedback.length < 1_000_000
    ) {
      this.#feedback.push(Date.now() - (attempt.at + attempt.durationMs));
    }
    const acceptedAt = this.#waiting.get(event.messageId);
    if (acceptedAt === undefined) {
      if (this.#early.size < 100_000) this.#early.set(event.messageId, event.at);
      return;
    }
    this.#waiting.delete(event.messageId);
    this.#latencies.push(event.at - acceptedAt);
    if (this.#waiting.size === 0) for (const wake of [...this.#waiters]) wake();
  }

  accepted(id: string, wallMs: number): void {
    this.#accepted += 1;
    const early = this.#early.get(id);
    if (early !== undefined) {
      this.#early.delete(id);
      this.#latencies.push(early - wallMs);
      return;
    }
    this.#waiting.set(id, wallMs);
  }

  /** Waits until every accepted message was delivered (or `timeoutMs`), then closes the stream. */
  async finish(timeoutMs: number): Promise<ProbeResult> {
    if (this.#waiting.size > 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          this.#waiters.delete(done);
          resolve();
        }, timeoutMs);
        const done = (): void => {
          clearTimeout(timer);
          this.#waiters.delete(done);
          resolve();
        };
        this.#waiters.add(done);
      });
    }
    this.close();
    return {
      latenciesMs: [...this.#latencies],
      feedbackMs: [...this.#feedback],
      sampled: this.#accepted,
      undelivered: this.#waiting.size,
      requests: 1,
      requestErrors: 0,
    };
  }

  /** Delivered events seen (also those of messages not followed). */
  get events(): number {
    return this.#events;
  }

  close(): void {
    this.#abort.abort();
  }
}
