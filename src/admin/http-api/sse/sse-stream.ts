/**
 * One Server-Sent Events response (text/event-stream) with a bounded buffer.
 *
 * In: the raw Node response of a hijacked Fastify request. Out: `event()` writes
 * `id:` (the seq), `event:` (the lifecycle type) and `data:` (the JSON event);
 * `comment()` writes a `:` line (heartbeats). Two ways to write: `event()` never
 * waits (live events arrive synchronously from the bus) and disconnects the
 * client once more than `maxBufferedBytes` wait unsent (a slow consumer must not
 * hold the server's memory); `drained()` lets the replay loop wait for the
 * socket, with a time limit after which the client is dropped too. Nothing here
 * parses client input; event fields come from our own spool and bus.
 */
import type { ServerResponse } from 'node:http';
import type { LifecycleEvent } from '../../../contracts/events.ts';

export interface SseLimits {
  readonly heartbeatMs: number;
  readonly maxBufferedBytes: number;
  /** How long `drained()` may wait for the client to read before it is dropped. */
  readonly drainTimeoutMs: number;
}

export type CloseReason = 'client' | 'slow-consumer' | 'server';

export class SseStream {
  readonly #res: ServerResponse;
  readonly #limits: SseLimits;
  readonly #heartbeat: NodeJS.Timeout;
  readonly #closed: Promise<CloseReason>;
  #reason: CloseReason | undefined;
  #lastSeq = 0;

  constructor(res: ServerResponse, limits: SseLimits) {
    this.#res = res;
    this.#limits = limits;
    const { promise, resolve } = Promise.withResolvers<CloseReason>();
    this.#closed = promise;
    res.on('close', () => {
      clearInterval(this.#heartbeat);
      this.#reason ??= 'client';
      resolve(this.#reason);
    });
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    // Tells EventSource how long to wait before reconnecting, and flushes the headers.
    res.write('retry: 3000\n\n');
    this.#heartbeat = setInterval(() => this.comment('heartbeat'), limits.heartbeatMs);
    this.#heartbeat.unref();
  }

  get open(): boolean {
    return this.#reason === undefined && !this.#res.destroyed;
  }

  /** Seq of the last event written (0 before any). */
  get lastSeq(): number {
    return this.#lastSeq;
  }

  /** Resolves when the response is closed, with why. */
  get closed(): Promise<CloseReason> {
    return this.#closed;
  }

  event(event: LifecycleEvent): void {
    if (event.seq > 0) this.#lastSeq = event.seq;
    const id = event.seq > 0 ? `id: ${event.seq}\n` : '';
    this.#write(`${id}event: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`);
  }

  comment(text: string): void {
    this.#write(`: ${text.replace(/[\r\n]/g, ' ')}\n\n`);
  }

  /** Waits until the socket took what was written; drops a client that does not read in time. */
  async drained(): Promise<boolean> {
    if (!this.open) return false;
    if (!this.#res.writableNeedDrain) return true;
    const { promise, resolve } = Promise.withResolvers<boolean>();
    const onDrain = (): void => resolve(true);
    const timer = setTimeout(() => resolve(false), this.#limits.drainTimeoutMs);
    this.#res.once('drain', onDrain);
    void this.#closed.then(() => resolve(false));
    const ok = await promise;
    clearTimeout(timer);
    this.#res.off('drain', onDrain);
    if (!ok) this.close('slow-consumer');
    return ok && this.open;
  }

  close(reason: CloseReason): void {
    if (this.#reason !== undefined) return;
    this.#reason = reason;
    clearInterval(this.#heartbeat);
    if (reason === 'slow-consumer') this.#res.destroy();
    else this.#res.end();
  }

  #write(text: string): void {
    if (!this.open) return;
    this.#res.write(text);
    if (this.#res.writableLength > this.#limits.maxBufferedBytes) this.close('slow-consumer');
  }
}
