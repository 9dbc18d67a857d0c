/**
 * The Spool: where a message becomes durable and where its per-recipient state lives.
 *
 * Types only. Backends: spool/sqlite (embedded default) and, later, spool/postgres
 * (several nodes on one queue). Every backend passes spool/conformance.ts.
 *
 * Contract every backend keeps:
 *  - `commit` resolves only after the message, its body and its recipient rows (and
 *    any events passed with it) are synced to stable storage. Concurrent commits may
 *    share one sync (group commit). A rejected commit stored nothing; it is never
 *    retried on the same data by the spool (the caller answers 4xx).
 *  - The body is written once and never rewritten; attempts only update small
 *    per-recipient rows.
 *  - Recipients are claimed with a lease (`owner`, `leaseUntil`) so several nodes can
 *    share a queue; a lease that runs out makes the recipient claimable again, which
 *    is how a crashed node's work is picked up.
 *  - All methods may be called concurrently; each is atomic on its own.
 *
 * Failures reject with a `SpoolError` (protocol/errors.ts) whose `code` is
 * `SPOOL_FULL` (no space: 452 4.3.1), `SPOOL_IO` (write/sync failed: 451 4.3.0) or
 * `SPOOL_CLOSED`.
 */
import type { EnvelopeInput, Origin, RecipientInput } from './envelope.ts';
import type { LifecycleEvent } from './events.ts';
import type { Attempt, RecipientStatus, SmtpReply } from './status.ts';

/** One stored attempt for one recipient, as `Spool.attempts` lists it. */
export interface StoredAttempt {
  /** The recipient's position in the envelope. */
  readonly index: number;
  /** 1 for the recipient's first attempt, then 2, 3, ... */
  readonly n: number;
  readonly attempt: Attempt;
}

export interface NewMessage {
  /** Time-sortable unique id (runtime/ids.ts). */
  readonly id: string;
  readonly receivedAt: number;
  readonly envelope: EnvelopeInput;
  readonly origin: Origin;
  /** Complete message as it will be delivered: our trace headers + the client's bytes, CRLF canonical. */
  readonly body: Uint8Array;
  /** A few parsed headers for listings (Subject, From, To, Message-ID), bounded in length. */
  readonly headers: Readonly<Record<string, string>>;
  /** Recipient status at commit: normally `queued`; `suppressed` ones are final at once. */
  readonly initialStatus?: readonly RecipientStatus[];
  /** Listener-level delivery mode and other small tags, kept with the message. */
  readonly tags?: Readonly<Record<string, string>>;
}

export interface CommitOptions {
  /** Claim the new recipients for this node at once (the fast path: no poll needed). */
  readonly claimFor?: { readonly owner: string; readonly leaseMs: number };
  /** Events stored in the same transaction (typically the `received` event). */
  readonly events?: readonly LifecycleEvent[];
}

export interface StoredRecipient {
  readonly messageId: string;
  /** Position in the envelope, 0-based; (messageId, index) is the recipient key. */
  readonly index: number;
  readonly address: string;
  /** Lower-cased domain part of `address`. */
  readonly domain: string;
  readonly notify?: RecipientInput['notify'];
  readonly orcpt?: RecipientInput['orcpt'];
  readonly status: RecipientStatus;
  readonly attempts: number;
  /** Epoch ms of the next attempt (meaningful while queued/deferred). */
  readonly nextAttemptAt: number;
  readonly lastReply?: SmtpReply;
  readonly lastErrorCode?: string;
  readonly updatedAt: number;
  /** Route that delivered or last tried (e.g. `direct`, `relay:smarthost`). */
  readonly route?: string;
  /** True while the queue holds this recipient back (operator `hold`). */
  readonly held: boolean;
}

export interface StoredMessage {
  readonly id: string;
  readonly receivedAt: number;
  readonly envelope: EnvelopeInput;
  readonly origin: Origin;
  readonly size: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly tags: Readonly<Record<string, string>>;
  readonly recipients: readonly StoredRecipient[];
  /** False once every recipient is final and the body was released. */
  readonly hasBody: boolean;
}

/** A recipient handed to the queue for an attempt. */
export interface ClaimedRecipient extends StoredRecipient {
  readonly receivedAt: number;
  readonly mailFrom: string;
  readonly size: number;
}

export interface ClaimRequest {
  readonly owner: string;
  readonly now: number;
  readonly limit: number;
  readonly leaseMs: number;
  /** Only recipients whose domain is not in this set (domains currently throttled). */
  readonly excludeDomains?: ReadonlySet<string>;
}

/** The outcome of one attempt (or a decision without attempt) for one recipient. */
export interface RecipientUpdate {
  readonly messageId: string;
  readonly index: number;
  readonly status: RecipientStatus;
  /** Required when status is queued/deferred. */
  readonly nextAttemptAt?: number;
  readonly attempt?: Attempt;
  readonly lastReply?: SmtpReply;
  readonly lastErrorCode?: string;
  readonly route?: string;
}

/** What one `update` stored. */
export interface UpdateResult {
  /** The events given, as stored (in order, `seq` filled in). */
  readonly events: readonly LifecycleEvent[];
  /**
   * Ids of the messages whose last pending recipient THIS update settled. Decided
   * inside the update's transaction, so when several jobs (or nodes) settle the
   * recipients of one message at once, exactly one of them sees it finish.
   */
  readonly finished: readonly string[];
}

export interface ListFilter {
  readonly status?: RecipientStatus;
  readonly recipient?: string;
  readonly sender?: string;
  readonly domain?: string;
  readonly since?: number;
  readonly until?: number;
  /** Opaque cursor from a previous page (message id, exclusive; newest first). */
  readonly before?: string;
  readonly limit: number;
}

export interface SpoolStats {
  readonly messages: number;
  readonly recipientsByStatus: Readonly<Record<RecipientStatus, number>>;
  readonly bodyBytes: number;
}

/** What `purge` removes: history older than `before`, a bounded slice per call. */
export interface PurgeRequest {
  /** Epoch ms: messages received, and events stored, before this go. */
  readonly before: number;
  /** The smallest queue id of `before` (ids sort by time), which bounds the index scan. */
  readonly beforeId: string;
  /** Resume the scan of messages after this id (the previous call's `scannedTo`). */
  readonly afterId?: string;
  /** At most this many messages examined, and this many events deleted, per call. */
  readonly limit: number;
  /** Events with a seq above this are kept, however old (a webhook has yet to send them)... */
  readonly keepEventsAfter?: number;
  /** ...unless they were stored before this (epoch ms): a webhook may not hold them longer. */
  readonly dropHeldBefore?: number;
}

export interface PurgeResult {
  /** Messages deleted. */
  readonly messages: number;
  readonly events: number;
  /** The seq of the newest event deleted; absent when none was. */
  readonly lastEventSeq?: number;
  /** The last message id examined when the scan stopped at `limit` (call again from it); absent when done. */
  readonly scannedTo?: string;
}

export interface Spool {
  /** Opens storage, runs migrations, and releases leases this owner held before a crash. */
  open(): Promise<void>;
  /**
   * Durable when resolved; see the contract above. Resolves with the events stored
   * with it (`options.events`, in order), each with its `seq` filled in: publish THOSE.
   */
  commit(message: NewMessage, options?: CommitOptions): Promise<readonly LifecycleEvent[]>;
  getMessage(id: string): Promise<StoredMessage | undefined>;
  /** The stored body; rejects with `NOT_FOUND` once released. */
  readBody(id: string): Promise<Uint8Array>;
  /** Due, unheld, unleased (or lease expired) recipients, oldest due first, now leased to `owner`. */
  claimDue(request: ClaimRequest): Promise<ClaimedRecipient[]>;
  /**
   * Applies outcomes atomically with their events and releases the leases. When a
   * message has no pending recipients left, its body is released. Resolves with
   * `events` as stored and the messages this update finished (UpdateResult).
   */
  update(updates: readonly RecipientUpdate[], events?: readonly LifecycleEvent[]): Promise<UpdateResult>;
  /** Gives claimed recipients back without an attempt (shutdown, throttle). */
  release(owner: string, keys: readonly { messageId: string; index: number }[]): Promise<void>;
  /** Operator actions; return the number of recipients changed. */
  setHeld(messageId: string, held: boolean): Promise<number>;
  retryNow(messageId: string, now: number): Promise<number>;
  /**
   * Operator cancel: every pending (queued or deferred) recipient becomes `cancelled`,
   * each with a stored `cancelled` event; the body is released when nothing is left
   * pending. Resolves with those events (`seq` filled in, one per recipient changed;
   * none for an unknown message or one with nothing pending). A recipient whose lease
   * is live gets `inFlight: true`: its delivery may still finish. A later `delivered`
   * update then moves it to `delivered` (the message did arrive); any other outcome
   * leaves it `cancelled`.
   */
  cancel(messageId: string): Promise<readonly LifecycleEvent[]>;
  /**
   * The stored attempts of a message, by recipient index then attempt number; at
   * most the first 10,000 (empty for an unknown message).
   */
  attempts(messageId: string): Promise<StoredAttempt[]>;
  list(filter: ListFilter): Promise<StoredMessage[]>;
  /**
   * History retention: deletes messages received before `before` that have no pending
   * recipient (with their recipients and attempts), and events stored before it.
   * Pending mail is never touched. Each call examines at most `limit` messages, so
   * old pending mail never makes a call long: call again from `scannedTo` while it
   * is set, and while `events` reaches `limit`.
   */
  purge(request: PurgeRequest): Promise<PurgeResult>;
  /** Stored events with seq > after, oldest first (live-stream resume, webhook outbox). */
  eventsSince(after: number, limit: number): Promise<LifecycleEvent[]>;
  stats(): Promise<SpoolStats>;
  /** Bytes still free where the spool writes; the ingress refuses mail that would not fit. */
  freeBytes(): Promise<number>;
  close(): Promise<void>;
}
