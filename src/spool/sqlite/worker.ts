/**
 * Worker-thread entry of the SQLite spool: owns the engine and its connection.
 *
 * In: arrays of `Request`s on the parent port (the owner front) and on any port the
 * owner attaches (`{ attach: MessagePort }`: another thread's client, e.g. the SMTP
 * ingress thread); `workerData` is the `EngineOptions`. Out: one `ReplyBatch` per
 * batch to each client that had requests in it, read bodies transferred (not copied).
 * The owner's batch also carries what the others stored (`others`: their events with
 * seq, and the messages they handed over, bodies transferred), so one thread hears
 * of every stored event, in one ordered stream.
 *
 * Group commit: every request that has arrived is drained synchronously with
 * `receiveMessageOnPort`, so requests that queued up during the previous sync
 * share the next one, whichever thread sent them. While several clients commit at
 * once (a commit in the batch was sent while others were unanswered:
 * `Request.company`), a batch holding commits first waits up to GATHER_MS for more
 * to arrive, counted from the start of the previous batch: each transaction writes the
 * pages it touches once and syncs once, so a batch of ten commits costs far less than
 * ten of one. A lone client sending message after message never waits.
 *
 * Request ids are each client's own; here they are renumbered so that they are
 * unique in a batch, and given back in the replies.
 * After the engine answers `close`, every port is closed and the thread ends. A bug
 * here throws out of the thread; the owner sees the worker's `error`/`exit` and
 * fails every pending call with SPOOL_IO.
 */
import { type MessagePort, parentPort, receiveMessageOnPort, workerData } from 'node:worker_threads';
import type { LifecycleEvent } from '../../contracts/events.ts';
import { type EngineOptions, IDLE_CHECKPOINT_MS, SqliteEngine } from './engine.ts';
import {
  BATCH_LIMITS,
  batchLength,
  type HandedOver,
  type Reply,
  type ReplyBatch,
  type Request,
  requestBytes,
  storedEvents,
  wholeBuffer,
} from './protocol.ts';

const ownerPort = parentPort;
if (ownerPort === null) throw new Error('spool worker must run in a worker thread');

interface Client {
  readonly port: MessagePort;
  readonly owner: boolean;
}

/** A request waiting for its batch, and where it came from (`id`: its client's own id). */
interface Origin {
  readonly client: Client;
  readonly id: number;
  readonly request: Request;
}

const engine = new SqliteEngine(workerData as EngineOptions);
const owner: Client = { port: ownerPort as MessagePort, owner: true };
const clients: Client[] = [owner];
/**
 * Requests waiting for a batch, in arrival order. Where each came from travels with
 * it, not in a lookup table that outlives batches: a long-lived Map with an entry
 * added and removed per request ends up in V8's old generation, and each rehash
 * leaves the old table pointing at the new one, so every request it ever held
 * survived the young-generation collections and was promoted (about 3 MB per
 * scavenge at 2,700 msgs/s; scavenges took 7 ms here instead of under 1).
 */
const backlog: Origin[] = [];
let backlogBytes = 0;
let running = false;

/**
 * While several clients commit at once, a batch holding commits starts no sooner
 * than this after the previous batch started: the commits that arrive meanwhile share
 * its transaction and its sync. Time the previous transaction spent (its sync, mostly)
 * counts, so a batch waits only for what is left of the interval.
 */
const GATHER_MS = 3;
/** A batch with this many commits already goes at once. */
const GATHER_ENOUGH = 64;
const sleeper = new Int32Array(new SharedArrayBuffer(4));
/** When the previous batch started (performance.now()). */
let lastBatchAt = 0;

/** Waits (blocking this thread, which has nothing else to do) for more commits to join the batch. */
function gatherCommits(): void {
  let commits = 0;
  let company = false;
  for (const { request } of backlog) {
    if (request.op !== 'commit') continue;
    commits += 1;
    company ||= request.company === true;
  }
  if (!company || commits >= GATHER_ENOUGH) return;
  const wait = lastBatchAt + GATHER_MS - performance.now();
  if (wait <= 0) return;
  Atomics.wait(sleeper, 0, 0, wait);
  takeWaiting();
}

function takeWaiting(): void {
  for (const client of clients) {
    while (backlog.length < BATCH_LIMITS.requests && backlogBytes <= BATCH_LIMITS.bodyBytes) {
      const received = receiveMessageOnPort(client.port);
      if (received === undefined) break;
      receive(client, received.message);
    }
  }
}

/** Buffers of read bodies go back by transfer when the array owns them whole. */
function transferables(replies: readonly Reply[]): ArrayBuffer[] {
  const out: ArrayBuffer[] = [];
  for (const reply of replies) {
    const whole = reply.ok && reply.value instanceof Uint8Array ? wholeBuffer(reply.value) : undefined;
    if (whole !== undefined) out.push(whole);
  }
  return out;
}

/**
 * Sends each client its replies, and the owner what the others stored (and the logs).
 * `batch[i]` is the request the engine knew by id `i`.
 */
function answer(result: ReplyBatch, batch: readonly Origin[]): void {
  const { replies, groups, items, logs } = result;
  const byClient = new Map<Client, Reply[]>();
  const events: LifecycleEvent[] = [];
  const handedOver: HandedOver[] = [];
  for (const reply of replies) {
    const origin = batch[reply.id];
    if (origin === undefined) continue;
    // The engine's reply object, given back its client's id.
    (reply as { id: number }).id = origin.id;
    const list = byClient.get(origin.client);
    if (list === undefined) byClient.set(origin.client, [reply]);
    else list.push(reply);
    if (origin.client.owner || !reply.ok) continue;
    const stored = storedEvents(origin.request, reply.value);
    for (const event of stored) events.push(event);
    if (origin.request.op === 'commit' && origin.request.handOver)
      handedOver.push({ message: origin.request.args[0], events: stored });
  }
  // Other threads' clients first: their SMTP sessions are waiting to answer 250.
  for (const [client, list] of byClient) {
    if (client.owner) continue;
    client.port.postMessage({ replies: list, groups, items, logs: [] }, transferables(list));
  }
  const mine = byClient.get(owner) ?? [];
  if (mine.length > 0 || events.length > 0 || handedOver.length > 0 || logs.length > 0) {
    const transfer = transferables(mine);
    for (const h of handedOver) {
      const whole = wholeBuffer(h.message.body);
      if (whole !== undefined) transfer.push(whole);
    }
    owner.port.postMessage(
      {
        replies: mine,
        groups,
        items,
        logs,
        ...(events.length > 0 || handedOver.length > 0 ? { others: { events, handedOver } } : {}),
      },
      transfer,
    );
  }
}

function drain(): void {
  running = true;
  try {
    while (backlog.length > 0) {
      takeWaiting();
      gatherCommits();
      lastBatchAt = performance.now();
      const batch = backlog.splice(
        0,
        batchLength(backlog, (origin) => origin.request),
      );
      // Renumbered in place (the worker's own copy): ids unique in the batch, and the
      // index of each request's origin.
      const requests = batch.map((origin, index) => {
        (origin.request as { id: number }).id = index;
        backlogBytes -= requestBytes(origin.request);
        return origin.request;
      });
      const result = engine.runBatch(requests);
      answer(result, batch);
      if (engine.closed) {
        for (const client of clients) client.port.close();
        return;
      }
      if (engine.checkpointOverdue) engine.idle(true);
    }
    scheduleIdle();
  } finally {
    running = false;
  }
}

/** A client's message: requests (an array), or, from the owner, a port to attach. */
function receive(client: Client, message: unknown): void {
  if (Array.isArray(message)) {
    for (const request of message as Request[]) {
      backlog.push({ client, id: request.id, request });
      backlogBytes += requestBytes(request);
    }
  } else if (client.owner && typeof message === 'object' && message !== null && 'attach' in message) {
    attach((message as { attach: MessagePort }).attach);
  }
}

function attach(port: MessagePort): void {
  const client: Client = { port, owner: false };
  clients.push(client);
  listen(client);
  port.once('close', () => {
    const at = clients.indexOf(client);
    if (at >= 0) clients.splice(at, 1);
  });
}

function listen(client: Client): void {
  client.port.on('message', (message: unknown) => {
    receive(client, message);
    if (!running && backlog.length > 0) drain();
  });
}

listen(owner);

let idleTimer: NodeJS.Timeout | undefined;

/** Checkpoints once the backlog stays empty for a moment (see SqliteEngine.idle). */
function scheduleIdle(): void {
  clearTimeout(idleTimer);
  idleTimer = setTimeout(() => {
    if (!running && backlog.length === 0 && !engine.closed) engine.idle();
  }, IDLE_CHECKPOINT_MS);
  idleTimer.unref();
}
