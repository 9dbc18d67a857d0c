/**
 * Worker-thread entry of the SQLite spool: owns the engine and its connection.
 *
 * In: arrays of `Request`s on the parent port; `workerData` is the `EngineOptions`.
 * Out: one `ReplyBatch` message per batch, read bodies transferred (not copied).
 * Group commit: every request that has arrived is drained synchronously with
 * `receiveMessageOnPort`, so requests that queued up during the previous sync
 * share the next one. Delivery bookkeeping alone (updates, claims, releases: no
 * sync, nobody at an SMTP prompt waiting) is held up to LAZY_HOLD_MS for company,
 * so it rides in the next commit's transaction or in one bigger transaction of its
 * own instead of rewriting the same pages many times. After the engine answers `close`, the port is closed and
 * the thread ends. A bug here throws out of the thread; the front sees the
 * worker's `error`/`exit` and fails every pending call with SPOOL_IO.
 */
import { parentPort, receiveMessageOnPort, workerData } from 'node:worker_threads';
import { type EngineOptions, LAZY_SYNC_OPS, SqliteEngine } from './engine.ts';
import { BATCH_LIMITS, batchLength, type Reply, type Request, requestBytes } from './protocol.ts';

const port = parentPort;
if (port === null) throw new Error('spool worker must run in a worker thread');

const engine = new SqliteEngine(workerData as EngineOptions);
const backlog: Request[] = [];
let backlogBytes = 0;
let running = false;

/** How long delivery bookkeeping alone may wait for more requests (ms). */
const LAZY_HOLD_MS = 4;
/** When the oldest request still waiting in `backlog` arrived (ms, monotonic). */
let oldestAt = 0;
let holdTimer: NodeJS.Timeout | undefined;

/**
 * Milliseconds the backlog should still wait: above zero only while it holds
 * nothing but lazy writes, is far from a full batch and is younger than LAZY_HOLD_MS.
 */
function holdFor(): number {
  if (backlog.length >= BATCH_LIMITS.requests) return 0;
  for (const request of backlog) if (!LAZY_SYNC_OPS.has(request.op)) return 0;
  return oldestAt + LAZY_HOLD_MS - performance.now();
}

function takeWaiting(): void {
  if (backlog.length === 0) oldestAt = performance.now();
  while (backlog.length < BATCH_LIMITS.requests && backlogBytes <= BATCH_LIMITS.bodyBytes) {
    const received = receiveMessageOnPort(port!);
    if (received === undefined) return;
    enqueue(received.message as Request[]);
  }
}

/** Buffers of read bodies go back by transfer when the array owns them whole. */
function transferables(replies: readonly Reply[]): ArrayBuffer[] {
  const out: ArrayBuffer[] = [];
  for (const reply of replies) {
    if (!reply.ok || !(reply.value instanceof Uint8Array)) continue;
    const { buffer, byteOffset, byteLength } = reply.value;
    if (buffer instanceof ArrayBuffer && byteOffset === 0 && byteLength === buffer.byteLength) {
      out.push(buffer);
    }
  }
  return out;
}

function drain(): void {
  running = true;
  clearTimeout(holdTimer);
  holdTimer = undefined;
  try {
    while (backlog.length > 0) {
      takeWaiting();
      const hold = holdFor();
      if (hold > 0) {
        holdTimer = setTimeout(drain, hold);
        return;
      }
      const batch = backlog.splice(0, batchLength(backlog));
      oldestAt = performance.now();
      for (const request of batch) backlogBytes -= requestBytes(request);
      const result = engine.runBatch(batch);
      port!.postMessage(result, transferables(result.replies));
      if (engine.closed) {
        port!.close();
        return;
      }
      if (engine.checkpointOverdue) engine.idle(true);
    }
    scheduleIdle();
  } finally {
    running = false;
  }
}

/** The front posts the requests of one event-loop turn as one array. */
function enqueue(requests: readonly Request[]): void {
  for (const request of requests) {
    backlog.push(request);
    backlogBytes += requestBytes(request);
  }
}

port.on('message', (requests: Request[]) => {
  if (backlog.length === 0) oldestAt = performance.now();
  enqueue(requests);
  if (!running) drain();
});

let idleTimer: NodeJS.Timeout | undefined;

/** Checkpoints once the backlog stays empty for a moment (see SqliteEngine.idle). */
function scheduleIdle(): void {
  clearTimeout(idleTimer);
  idleTimer = setTimeout(() => {
    if (!running && backlog.length === 0 && !engine.closed) engine.idle();
  }, 5);
  idleTimer.unref();
}
