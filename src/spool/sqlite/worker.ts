/**
 * Worker-thread entry of the SQLite spool: owns the engine and its connection.
 *
 * In: arrays of `Request`s on the parent port; `workerData` is the `EngineOptions`.
 * Out: one `ReplyBatch` message per batch, read bodies transferred (not copied).
 * Group commit: every request that has arrived is drained synchronously with
 * `receiveMessageOnPort`, so requests that queued up during the previous sync
 * share the next one. While several clients commit at once (a commit in the
 * batch was sent while others were unanswered: `Request.company`), a batch holding
 * commits first waits up to GATHER_MS for more to arrive: each transaction writes
 * the pages it touches once and syncs once, so a batch of ten commits costs far
 * less than ten of one. A lone client sending message after message never waits.
 * After the engine answers `close`, the port is closed and the thread ends. A bug
 * here throws out of the thread; the front sees the worker's `error`/`exit` and
 * fails every pending call with SPOOL_IO.
 */
import { parentPort, receiveMessageOnPort, workerData } from 'node:worker_threads';
import { type EngineOptions, SqliteEngine } from './engine.ts';
import { BATCH_LIMITS, batchLength, type Reply, type Request, requestBytes } from './protocol.ts';

const port = parentPort;
if (port === null) throw new Error('spool worker must run in a worker thread');

const engine = new SqliteEngine(workerData as EngineOptions);
const backlog: Request[] = [];
let backlogBytes = 0;
let running = false;

/** How long a batch holding commits waits for more while several clients commit. */
const GATHER_MS = 1;
/** A batch with this many commits already goes at once. */
const GATHER_ENOUGH = 64;
const sleeper = new Int32Array(new SharedArrayBuffer(4));

/** Waits (blocking this thread, which has nothing else to do) for more commits to join the batch. */
function gatherCommits(): void {
  let commits = 0;
  let company = false;
  for (const request of backlog) {
    if (request.op !== 'commit') continue;
    commits += 1;
    company ||= request.company === true;
  }
  if (!company || commits >= GATHER_ENOUGH) return;
  Atomics.wait(sleeper, 0, 0, GATHER_MS);
  takeWaiting();
}

function takeWaiting(): void {
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
  try {
    while (backlog.length > 0) {
      takeWaiting();
      gatherCommits();
      const batch = backlog.splice(0, batchLength(backlog));
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

/** The front posts requests as arrays (one request each today). */
function enqueue(requests: readonly Request[]): void {
  for (const request of requests) {
    backlog.push(request);
    backlogBytes += requestBytes(request);
  }
}

port.on('message', (requests: Request[]) => {
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
