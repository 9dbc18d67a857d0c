/**
 * The embedded SQLite spool: `createSqliteSpool` returns a `Spool` whose SQLite
 * work runs in a worker thread (default) or in-process, with group commit.
 *
 * In: `SqliteSpoolOptions`; the database is `<dataDir>/spool.sqlite` (WAL,
 * synchronous=FULL, exclusively locked: one spool per data dir). Out: the `Spool`
 * contract (contracts/spool.ts) plus `commitGroups()` for observing group sizes.
 * Fails with typed errors only: SPOOL_FULL (SQLITE_FULL/ENOSPC or the size cap),
 * SPOOL_IO (any other storage error, a bad argument, a dead worker), SPOOL_CLOSED
 * (before `open()` resolved or after `close()` began), NOT_FOUND (`readBody`).
 *
 * Ownership: in worker mode `commit` TRANSFERS `message.body`'s ArrayBuffer to the
 * worker when the Uint8Array spans it whole (no copy); the caller's array is then
 * detached (length 0) and must not be used again. Otherwise the body is copied once.
 * Handles no peer input itself; values are stored through bound parameters.
 */
import { statfs } from 'node:fs/promises';
import { MessageChannel, type MessagePort } from 'node:worker_threads';
import type { LifecycleEvent } from '../../contracts/events.ts';
import type {
  ClaimedRecipient,
  ClaimRequest,
  CommitOptions,
  ListFilter,
  NewMessage,
  PurgeRequest,
  PurgeResult,
  RecipientUpdate,
  Spool,
  SpoolStats,
  StoredAttempt,
  StoredMessage,
  UpdateResult,
} from '../../contracts/spool.ts';
import { spoolClosed, spoolIo } from '../../protocol/errors.ts';
import { CallTable } from './call-table.ts';
import type { EngineOptions } from './engine.ts';
import {
  bodyToPost,
  fromWireError,
  type HandedOver,
  type Op,
  type OpTable,
  type Reply,
  type ReplyBatch,
  type Request,
  type StoredUpdate,
  storedEvents,
} from './protocol.ts';
import { InProcessTransport, type Transport, WorkerTransport } from './transport.ts';
import {
  checkClaim,
  checkCommit,
  checkEventsSince,
  checkId,
  checkKeys,
  checkList,
  checkPurge,
  checkTime,
  checkUpdates,
  LIMITS,
} from './validate.ts';

export interface SqliteSpoolOptions {
  readonly dataDir: string;
  /** Run SQLite on the calling thread (debugging, tests). Default: a worker thread. */
  readonly inProcess?: boolean;
  readonly log?: (msg: string, extra?: object) => void;
  /** Cap on the database size; growth past it fails commits with SPOOL_FULL. */
  readonly maxDatabaseBytes?: number;
  /** Recipients per search part (search-parts.ts). Default PART_RECIPIENTS; tests make it small. */
  readonly searchPartRecipients?: number;
  /**
   * Every event the spool stores, through this front or an attached client, with its
   * seq, in seq order, as its transaction is answered (before the callers' promises
   * settle). The one place live consumers hear of events from.
   */
  readonly onStored?: (events: readonly LifecycleEvent[]) => void;
  /** Messages attached clients committed for this front to deliver (`HandedOver`), bodies included. */
  readonly onHandedOver?: (messages: readonly HandedOver[]) => void;
}

export interface CommitGroups {
  /** Write transactions committed (each one sync). */
  readonly groups: number;
  /** Write requests (commits, updates, claims, ...) those transactions carried. */
  readonly items: number;
}

export type SqliteSpool = Spool & {
  commitGroups(): CommitGroups;
  /**
   * A port for a client in another thread (spool/sqlite/port-client.ts), served by the
   * same engine and group commit as this front. Worker mode only; the spool must be open.
   */
  attachClient(): MessagePort;
};

const NO_EVENTS: LifecycleEvent[] = [];
/** Requests queued to the engine at once; past this, calls fail at once (temporary). */
const MAX_PENDING_REQUESTS = 10_000;

type State = 'new' | 'opening' | 'open' | 'closing' | 'closed' | 'failed';

interface Pending {
  /** `stored`: the events the request stored, with their seqs (for ops that store some). */
  resolve(result: Answer): void;
  reject(error: unknown): void;
  readonly request: Request;
}

interface Answer {
  readonly value: unknown;
  readonly stored: readonly LifecycleEvent[];
}

/**
 * Bodies up to this size are copied to the worker, so the caller keeps its bytes (the
 * queue's first attempt uses them); larger ones are handed over (detached).
 */
const COPY_BODY_BYTES = 1024 * 1024;

/** Bytes free for an unprivileged user on the disk holding `dir` (the spool's `freeBytes`, uncached). */
export async function diskFreeBytes(dir: string): Promise<number> {
  const fs = await statfs(dir);
  return fs.bavail * fs.bsize;
}

class SqliteSpoolFront implements SqliteSpool {
  readonly #options: SqliteSpoolOptions;
  #state: State = 'new';
  #failure: Error | undefined;
  #transport: Transport | undefined;
  readonly #pending = new CallTable<Pending>();
  /** Commits sent and not answered yet. */
  #commitsInFlight = 0;
  #groups: CommitGroups = { groups: 0, items: 0 };
  #idleWaiters: (() => void)[] = [];
  #opening: Promise<void> | undefined;
  #closing: Promise<void> | undefined;

  constructor(options: SqliteSpoolOptions) {
    this.#options = options;
  }

  commitGroups(): CommitGroups {
    return this.#groups;
  }

  open(): Promise<void> {
    if (this.#state === 'open') return Promise.resolve();
    if (this.#state === 'opening' && this.#opening !== undefined) return this.#opening;
    if (this.#state !== 'new') return Promise.reject(spoolClosed());
    this.#state = 'opening';
    this.#opening = this.#doOpen();
    return this.#opening;
  }

  async #doOpen(): Promise<void> {
    const engineOptions: EngineOptions = {
      dataDir: this.#options.dataDir,
      ...(this.#options.maxDatabaseBytes === undefined
        ? {}
        : { maxDatabaseBytes: this.#options.maxDatabaseBytes }),
      ...(this.#options.searchPartRecipients === undefined
        ? {}
        : { searchPartRecipients: this.#options.searchPartRecipients }),
    };
    const events = {
      onBatch: (batch: ReplyBatch) => this.#onBatch(batch),
      onFailure: (error: Error) => this.#onFailure(error),
    };
    const transport = this.#options.inProcess
      ? new InProcessTransport(engineOptions, events)
      : new WorkerTransport(engineOptions, events);
    this.#transport = transport;
    try {
      await this.#send('open', [], []);
      this.#state = 'open';
    } catch (error) {
      this.#transport = undefined;
      this.#state = 'new';
      await transport.shutdown();
      throw error;
    } finally {
      this.#opening = undefined;
    }
  }

  async commit(message: NewMessage, options?: CommitOptions): Promise<readonly LifecycleEvent[]> {
    this.#checked(() => checkCommit(message, options));
    this.#ensureOpen();
    const { body, transfer } = this.#options.inProcess
      ? { body: message.body, transfer: [] }
      : bodyToPost(message.body, COPY_BODY_BYTES);
    return (await this.#send('commit', [{ ...message, body }, options], transfer)).stored;
  }

  async getMessage(id: string): Promise<StoredMessage | undefined> {
    this.#checked(() => checkId(id, 'message id'));
    return this.#call('getMessage', [id]);
  }

  async readBody(id: string): Promise<Uint8Array> {
    this.#checked(() => checkId(id, 'message id'));
    return this.#call('readBody', [id]);
  }

  async claimDue(request: ClaimRequest): Promise<ClaimedRecipient[]> {
    this.#checked(() => checkClaim(request));
    return this.#call('claimDue', [request]);
  }

  async update(
    updates: readonly RecipientUpdate[],
    events?: readonly LifecycleEvent[],
  ): Promise<UpdateResult> {
    this.#checked(() => checkUpdates(updates, events));
    const { value, stored } = await this.#send('update', [updates, events], []);
    return { events: stored, finished: (value as StoredUpdate).finished };
  }

  async release(owner: string, keys: readonly { messageId: string; index: number }[]): Promise<void> {
    this.#checked(() => checkKeys(keys));
    await this.#call('release', [owner, keys]);
  }

  async setHeld(messageId: string, held: boolean): Promise<number> {
    this.#checked(() => checkId(messageId, 'message id'));
    return this.#call('setHeld', [messageId, held]);
  }

  async retryNow(messageId: string, now: number): Promise<number> {
    this.#checked(() => {
      checkId(messageId, 'message id');
      checkTime(now, 'now');
    });
    return this.#call('retryNow', [messageId, now]);
  }

  async cancel(messageId: string): Promise<readonly LifecycleEvent[]> {
    this.#checked(() => checkId(messageId, 'message id'));
    return this.#call('cancel', [messageId, Date.now()]);
  }

  async attempts(messageId: string): Promise<StoredAttempt[]> {
    this.#checked(() => checkId(messageId, 'message id'));
    return this.#call('attempts', [messageId, LIMITS.attemptsPerCall]);
  }

  async list(filter: ListFilter): Promise<StoredMessage[]> {
    this.#checked(() => checkList(filter));
    return this.#call('list', [filter]);
  }

  async purge(request: PurgeRequest): Promise<PurgeResult> {
    this.#checked(() => checkPurge(request));
    return this.#call('purge', [request]);
  }

  async eventsSince(after: number, limit: number): Promise<LifecycleEvent[]> {
    this.#checked(() => checkEventsSince(after, limit));
    return this.#call('eventsSince', [after, limit]);
  }

  async stats(): Promise<SpoolStats> {
    return this.#call('stats', []);
  }

  attachClient(): MessagePort {
    this.#ensureOpen();
    const transport = this.#transport;
    if (!(transport instanceof WorkerTransport))
      throw new Error('attachClient needs the worker-thread spool');
    const { port1, port2 } = new MessageChannel();
    transport.attach(port1);
    return port2;
  }

  /** Uncached: the runtime reads it in the background (runtime/free-space.ts), not per message. */
  async freeBytes(): Promise<number> {
    this.#ensureOpen();
    try {
      return await diskFreeBytes(this.#options.dataDir);
    } catch (error) {
      throw spoolIo(error);
    }
  }

  close(): Promise<void> {
    this.#closing ??= this.#doClose();
    return this.#closing;
  }

  async #doClose(): Promise<void> {
    if (this.#opening !== undefined) await this.#opening.catch(() => undefined);
    const transport = this.#transport;
    const wasOpen = this.#state === 'open';
    this.#state = 'closing';
    await this.#idle();
    if (transport !== undefined) {
      if (wasOpen) {
        try {
          await this.#send('close', [], []);
        } catch (error) {
          this.#log('spool close failed', { error: String(error) });
        }
      }
      await transport.shutdown();
    }
    this.#transport = undefined;
    this.#state = 'closed';
  }

  #checked(check: () => void): void {
    try {
      check();
    } catch (error) {
      throw spoolIo(error);
    }
  }

  #ensureOpen(): void {
    if (this.#state === 'open') {
      if (this.#pending.size >= MAX_PENDING_REQUESTS) throw spoolIo(new Error('spool overloaded'));
      return;
    }
    if (this.#state === 'failed') throw spoolIo(this.#failure);
    throw spoolClosed();
  }

  async #call<K extends Op>(op: K, args: OpTable[K]['args']): Promise<OpTable[K]['result']> {
    this.#ensureOpen();
    return (await this.#send(op, args, [])).value as OpTable[K]['result'];
  }

  #send<K extends Op>(op: K, args: OpTable[K]['args'], transfer: readonly ArrayBuffer[]): Promise<Answer> {
    const transport = this.#transport;
    if (transport === undefined) return Promise.reject(spoolClosed());
    const { promise, resolve, reject } = Promise.withResolvers<Answer>();
    const commit = op === 'commit';
    // The engine's worker gathers commits into one transaction only while several
    // clients commit at once, so a lone client's commits never wait (worker.ts).
    const request = (
      commit && this.#commitsInFlight > 0 ? { id: 0, op, args, company: true } : { id: 0, op, args }
    ) as Request;
    const id = this.#pending.add({ resolve, reject, request });
    (request as { id: number }).id = id;
    if (this.#pending.size === 1) transport.setActive(true);
    try {
      if (commit) this.#commitsInFlight += 1;
      transport.send(request, transfer);
    } catch (error) {
      this.#settled(id);
      reject(spoolIo(error));
    }
    return promise;
  }

  #settled(id: number): Pending | undefined {
    const entry = this.#pending.take(id);
    if (entry?.request.op === 'commit') this.#commitsInFlight -= 1;
    if (this.#pending.size === 0) {
      this.#transport?.setActive(false);
      const waiters = this.#idleWaiters;
      this.#idleWaiters = [];
      for (const wake of waiters) wake();
    }
    return entry;
  }

  #idle(): Promise<void> {
    if (this.#pending.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  /**
   * Answers the batch's requests. Every event it stored (this front's and the attached
   * clients') first goes to `onStored`, in seq order, before any caller resumes; then
   * the callers' promises settle; then handed-over messages go to `onHandedOver`.
   */
  #onBatch(batch: ReplyBatch): void {
    this.#groups = { groups: batch.groups, items: batch.items };
    for (const record of batch.logs) this.#log(record.msg, record.extra);
    const settled: { entry: Pending; reply: Reply; stored: LifecycleEvent[] }[] = [];
    const all: LifecycleEvent[] = batch.others?.events ?? [];
    let sources = all.length > 0 ? 1 : 0;
    for (const reply of batch.replies) {
      const entry = this.#settled(reply.id);
      if (entry === undefined) continue;
      const stored = reply.ok ? storedEvents(entry.request, reply.value) : NO_EVENTS;
      if (stored.length > 0) {
        for (const event of stored) all.push(event);
        sources++;
      }
      settled.push({ entry, reply, stored });
    }
    if (all.length > 0 && this.#options.onStored) {
      if (sources > 1) all.sort((a, b) => a.seq - b.seq);
      this.#options.onStored(all);
    }
    for (const { entry, reply, stored } of settled) {
      if (reply.ok) entry.resolve({ value: reply.value, stored });
      else entry.reject(fromWireError(reply.error));
    }
    const handedOver = batch.others?.handedOver;
    if (handedOver && handedOver.length > 0) this.#options.onHandedOver?.(handedOver);
  }

  #onFailure(error: Error): void {
    if (this.#state === 'closed' || this.#state === 'failed') return;
    this.#log('spool engine failed', { error: String(error) });
    if (this.#state !== 'closing') this.#state = 'failed';
    this.#failure = error;
    for (const id of this.#pending.ids()) this.#settled(id)?.reject(spoolIo(error));
  }

  #log(msg: string, extra?: object): void {
    this.#options.log?.(msg, extra);
  }
}

export function createSqliteSpool(options: SqliteSpoolOptions): SqliteSpool {
  return new SqliteSpoolFront(options);
}
