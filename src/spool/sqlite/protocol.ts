/**
 * The request/reply messages between the SQLite spool front (index.ts) and its
 * engine (engine.ts), whether the engine runs in a worker thread or in-process.
 *
 * Types plus two small pure helpers. Values crossing the worker boundary are
 * structured-cloned, so errors travel as `WireError` records and are turned back
 * into typed `MxError`s on the main thread by `fromWireError`.
 */

import { isMarkedAsUntransferable } from 'node:worker_threads';
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
  SpoolStats,
  StoredAttempt,
  StoredMessage,
  UpdateResult,
} from '../../contracts/spool.ts';
import { type MxError, notFound, spoolClosed, spoolFull, spoolIo } from '../../protocol/errors.ts';

export interface RecipientKey {
  readonly messageId: string;
  readonly index: number;
}

/** Every operation the engine serves: its arguments and its result. */
export interface OpTable {
  open: { args: []; result: undefined };
  close: { args: []; result: undefined };
  /** The `seq` each of the commit's events got (the front fills them in: less to copy back). */
  commit: { args: [message: NewMessage, options: CommitOptions | undefined]; result: number[] };
  getMessage: { args: [id: string]; result: StoredMessage | undefined };
  readBody: { args: [id: string]; result: Uint8Array };
  claimDue: { args: [request: ClaimRequest]; result: ClaimedRecipient[] };
  update: {
    args: [updates: readonly RecipientUpdate[], events: readonly LifecycleEvent[] | undefined];
    result: StoredUpdate;
  };
  release: { args: [owner: string, keys: readonly RecipientKey[]]; result: undefined };
  setHeld: { args: [messageId: string, held: boolean]; result: number };
  retryNow: { args: [messageId: string, now: number]; result: number };
  cancel: { args: [messageId: string, now: number]; result: LifecycleEvent[] };
  purge: { args: [request: PurgeRequest]; result: PurgeResult };
  attempts: { args: [messageId: string, limit: number]; result: StoredAttempt[] };
  list: { args: [filter: ListFilter]; result: StoredMessage[] };
  eventsSince: { args: [after: number, limit: number]; result: LifecycleEvent[] };
  stats: { args: []; result: SpoolStats };
}

export type Op = keyof OpTable;

/** What the engine answers to an update: `UpdateResult` with the events' seqs only. */
export interface StoredUpdate {
  readonly seqs: number[];
  readonly finished: UpdateResult['finished'];
}

/** The events as stored: each with the seq the engine gave it. */
export function withSeqs(
  events: readonly LifecycleEvent[] | undefined,
  seqs: readonly number[],
): LifecycleEvent[] {
  return (events ?? []).map((event, i) => ({ ...event, seq: seqs[i]! }));
}

/**
 * How the engine schedules each op: `control` runs alone, `write` joins the
 * batch's single transaction (one sync for all), `read` runs after it commits.
 */
export const OP_KIND: Readonly<Record<Op, 'control' | 'write' | 'read'>> = {
  open: 'control',
  close: 'control',
  commit: 'write',
  claimDue: 'write',
  update: 'write',
  release: 'write',
  setHeld: 'write',
  retryNow: 'write',
  cancel: 'write',
  purge: 'write',
  getMessage: 'read',
  readBody: 'read',
  list: 'read',
  attempts: 'read',
  eventsSince: 'read',
  stats: 'read',
};

/**
 * Writes of delivery bookkeeping: appended to the WAL without a sync of their own
 * (engine.ts #syncFor); every other write (new mail above all) is synced before it is
 * answered.
 */
export const LAZY_SYNC_OPS: ReadonlySet<Op> = new Set<Op>(['update', 'claimDue', 'release', 'purge']);

export type Request = {
  [K in Op]: {
    readonly id: number;
    readonly op: K;
    readonly args: OpTable[K]['args'];
    /** A commit sent while others were still unanswered: several clients are committing at once. */
    readonly company?: boolean;
    /**
     * From an attached client (another thread), a commit whose message the owner is to
     * deliver: once committed, the message (body included) goes to the owner with its
     * stored events (`ReplyBatch.others.handedOver`).
     */
    readonly handOver?: boolean;
  };
}[Op];

/** A message committed by an attached client, handed to the owner front (which delivers it). */
export interface HandedOver {
  readonly message: NewMessage;
  /** Its events as stored (with their seq). */
  readonly events: LifecycleEvent[];
}

export type WireErrorKind = 'full' | 'io' | 'not-found' | 'invalid' | 'closed';

export interface WireError {
  readonly kind: WireErrorKind;
  readonly message: string;
  /** SQLite extended result code, when the error came from SQLite. */
  readonly sqliteCode?: number;
}

export type Reply =
  | { readonly id: number; readonly ok: true; readonly value: unknown }
  | { readonly id: number; readonly ok: false; readonly error: WireError };

export interface LogRecord {
  readonly msg: string;
  readonly extra?: object;
}

/** What the engine answers for one batch of requests. */
export interface ReplyBatch {
  readonly replies: Reply[];
  /** Totals since open: write transactions and the write requests they carried. */
  readonly groups: number;
  readonly items: number;
  readonly logs: LogRecord[];
  /**
   * Owner only: what the batch stored for attached clients: their events (with seq)
   * and the messages they handed over, so the owner hears of every stored event.
   */
  readonly others?: { readonly events: LifecycleEvent[]; readonly handedOver: HandedOver[] };
}

/** The events a successful write stored, with their seqs (none for ops that store none). */
export function storedEvents(request: Request, value: unknown): LifecycleEvent[] {
  switch (request.op) {
    case 'commit':
      return request.args[1]?.events ? withSeqs(request.args[1].events, value as number[]) : [];
    case 'update':
      return request.args[1] ? withSeqs(request.args[1], (value as StoredUpdate).seqs) : [];
    case 'cancel':
      return value as LifecycleEvent[];
    default:
      return [];
  }
}

/** A batch never holds more than this many requests or body bytes (the rest waits). */
export const BATCH_LIMITS = { requests: 1024, bodyBytes: 64 * 1024 * 1024 } as const;

/** Body bytes a request carries into a batch (only commits carry any). */
export function requestBytes(request: Request): number {
  return request.op === 'commit' ? request.args[0].body.byteLength : 0;
}

/**
 * How many requests from the front of `queue` form the next batch: at least one,
 * then as many as fit under `BATCH_LIMITS`.
 */
export function batchLength<T>(queue: readonly T[], requestOf: (item: T) => Request): number {
  let bytes = 0;
  let count = 0;
  for (const item of queue) {
    bytes += requestBytes(requestOf(item));
    if (count > 0 && (count >= BATCH_LIMITS.requests || bytes > BATCH_LIMITS.bodyBytes)) break;
    count += 1;
  }
  return count;
}

/** Turns an engine-side error record into the typed error callers see. */
export function fromWireError(error: WireError): MxError {
  const cause = Object.assign(new Error(error.message), { sqliteCode: error.sqliteCode });
  switch (error.kind) {
    case 'full':
      return spoolFull(cause);
    case 'io':
      return spoolIo(cause);
    case 'not-found':
      return notFound(error.message);
    case 'invalid':
      return spoolIo(new TypeError(error.message));
    case 'closed':
      return spoolClosed();
    default: {
      const unknownKind: never = error.kind;
      return spoolIo(new Error(`unknown error kind ${String(unknownKind)}`));
    }
  }
}

/** An engine-side failure that is not a storage error (bad input, missing row). */
export class EngineError extends Error {
  readonly kind: WireErrorKind;

  constructor(kind: WireErrorKind, message: string) {
    super(message);
    this.name = 'EngineError';
    this.kind = kind;
  }
}

/** The ArrayBuffer that `bytes` views whole (so it can be transferred), else undefined. */
export function wholeBuffer(bytes: Uint8Array): ArrayBuffer | undefined {
  const { buffer, byteOffset, byteLength } = bytes;
  return buffer instanceof ArrayBuffer && byteOffset === 0 && byteLength === buffer.byteLength
    ? buffer
    : undefined;
}

/**
 * A body to post to another thread, and what to transfer with it. Up to `copyUpTo`
 * bytes the body is cloned and the sender keeps its bytes; past it the sender's buffer
 * is transferred (detached on the sender's side) when the body views it whole. A slice
 * of a larger (pooled) buffer, or an untransferable one, is copied once first, or the
 * clone would carry the whole pool.
 */
export function bodyToPost(
  body: Uint8Array,
  copyUpTo: number,
): { body: Uint8Array; transfer: ArrayBuffer[] } {
  const whole = wholeBuffer(body);
  if (whole !== undefined) {
    if (body.byteLength <= copyUpTo) return { body, transfer: [] };
    if (!isMarkedAsUntransferable(whole)) return { body, transfer: [whole] };
  }
  const copy = new Uint8Array(body);
  return { body: copy, transfer: [copy.buffer] };
}
