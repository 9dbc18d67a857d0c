/**
 * How the spool front reaches its engine: a worker thread (default) or the same
 * thread (`inProcess`, for debugging and tests). Both batch requests the same way
 * and answer with `ReplyBatch`es through `TransportEvents`.
 *
 * In: requests plus the buffers to transfer (the worker transport posts each
 * request as a one-element array; the worker takes arrays). Out: `onBatch` per engine batch,
 * `onFailure` if the engine thread dies or throws. `shutdown` waits (bounded) for
 * the thread to end after the engine answered `close`; without a `close` it
 * terminates the thread at once.
 * No untrusted input.
 */
import { type MessagePort, Worker } from 'node:worker_threads';
import { type EngineOptions, IDLE_CHECKPOINT_MS, SqliteEngine } from './engine.ts';
import { batchLength, LAZY_SYNC_OPS, type ReplyBatch, type Request } from './protocol.ts';

export interface TransportEvents {
  onBatch(batch: ReplyBatch): void;
  onFailure(error: Error): void;
}

export interface Transport {
  send(request: Request, transfer: readonly ArrayBuffer[]): void;
  /** Keeps the process alive while requests are pending; lets it exit when idle. */
  setActive(active: boolean): void;
  shutdown(): Promise<void>;
}

const EXIT_TIMEOUT_MS = 10_000;

export class WorkerTransport implements Transport {
  readonly #worker: Worker;
  readonly #exited: Promise<void>;
  #closing = false;
  /** Delivery bookkeeping waiting for the end of this turn (see send). */
  readonly #lazy: Request[] = [];

  constructor(options: EngineOptions, events: TransportEvents) {
    this.#worker = new Worker(new URL('./worker.ts', import.meta.url), {
      workerData: options,
      name: 'mxpress-spool',
    });
    this.#worker.unref();
    this.#worker.on('message', (batch: ReplyBatch) => events.onBatch(batch));
    this.#worker.on('error', (error: Error) => events.onFailure(error));
    this.#exited = new Promise((resolve) => {
      this.#worker.once('exit', (code: number) => {
        if (!this.#closing) events.onFailure(new Error(`spool worker exited (code ${code})`));
        resolve();
      });
    });
  }

  send(request: Request, transfer: readonly ArrayBuffer[]): void {
    if (request.op === 'close') this.#closing = true;
    // Delivery bookkeeping (updates, claims, releases) made in one turn of the event
    // loop goes as one message, at the end of the turn: one wakeup of the spool's thread
    // instead of one per delivery. Anything else goes at once (side by side, a commit
    // that waited for the end of the turn cost more in latency than the wakeups it
    // saved), taking the queued bookkeeping along, in order.
    if (LAZY_SYNC_OPS.has(request.op) && transfer.length === 0) {
      this.#lazy.push(request);
      if (this.#lazy.length === 1) setImmediate(this.#flushLazy);
      return;
    }
    const requests = this.#lazy.length > 0 ? [...this.#lazy.splice(0), request] : [request];
    this.#worker.postMessage(requests, [...transfer]);
  }

  readonly #flushLazy = (): void => {
    if (this.#lazy.length > 0) this.#worker.postMessage(this.#lazy.splice(0));
  };

  setActive(active: boolean): void {
    if (active) this.#worker.ref();
    else this.#worker.unref();
  }

  /** Hands the worker a port another thread's client speaks on (worker.ts `attach`). */
  attach(port: MessagePort): void {
    this.#worker.postMessage({ attach: port }, [port]);
  }

  async shutdown(): Promise<void> {
    if (!this.#closing) {
      // No `close` was sent (failed open, dead engine): nothing to wait for.
      this.#closing = true;
      await this.#worker.terminate();
      await this.#exited;
      return;
    }
    const timer = setTimeout(() => void this.#worker.terminate(), EXIT_TIMEOUT_MS);
    try {
      await this.#exited;
    } finally {
      clearTimeout(timer);
    }
  }
}

export class InProcessTransport implements Transport {
  readonly #engine: SqliteEngine;
  readonly #events: TransportEvents;
  readonly #queue: Request[] = [];
  #scheduled = false;
  #idleTimer: NodeJS.Timeout | undefined;

  constructor(options: EngineOptions, events: TransportEvents) {
    this.#engine = new SqliteEngine(options);
    this.#events = events;
  }

  send(request: Request): void {
    this.#queue.push(request);
    this.#schedule();
  }

  setActive(): void {}

  async shutdown(): Promise<void> {
    clearTimeout(this.#idleTimer);
  }

  #schedule(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    // One turn of the event loop collects the batch: every call made before it runs.
    setImmediate(() => this.#drain());
  }

  #drain(): void {
    this.#scheduled = false;
    const batch = this.#queue.splice(
      0,
      batchLength(this.#queue, (request) => request),
    );
    if (batch.length === 0) return;
    let result: ReplyBatch;
    try {
      result = this.#engine.runBatch(batch);
      // Checkpoints as the worker runs them: overdue ones at once, others once idle.
      if (this.#engine.checkpointOverdue) this.#engine.idle(true);
    } catch (error) {
      this.#events.onFailure(error instanceof Error ? error : new Error(String(error)));
      return;
    }
    clearTimeout(this.#idleTimer);
    if (this.#queue.length > 0) this.#schedule();
    else {
      this.#idleTimer = setTimeout(() => {
        if (this.#queue.length === 0 && !this.#engine.closed) this.#engine.idle();
      }, IDLE_CHECKPOINT_MS);
      this.#idleTimer.unref();
    }
    this.#events.onBatch(result);
  }
}
