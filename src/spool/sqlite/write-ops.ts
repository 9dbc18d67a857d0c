/**
 * The spool's write operations as synchronous SQLite statements.
 *
 * In: already validated requests (validate.ts). Out: rows changed in the caller's
 * open transaction; this module never begins, commits or syncs: the engine runs a
 * whole batch in one transaction (and each request in a savepoint only when one of
 * them failed). What it holds outside the database for the open transaction (the
 * `counters` deltas, and the search parts' copy, search-parts.ts) follows the
 * transaction through five calls from the engine: `beforeCommit` writes the deltas
 * (one one-row statement per counter that changed), `committed` after COMMIT,
 * `rolledBack` after a rollback, and `mark`/`restore` around a savepoint. Every statement
 * then changes one row, which SQLite runs without a statement journal (a copy of
 * every page it touches). Throws
 * `EngineError('not-found')` for unknown recipients, SQLite errors as they come.
 * Final statuses are sticky here: an update never moves a final recipient back.
 * Handles untrusted values (addresses, header text) only as bound parameters.
 */
import type { DatabaseSync, StatementSync } from 'node:sqlite';
import type { LifecycleEvent } from '../../contracts/events.ts';
import type {
  ClaimedRecipient,
  ClaimRequest,
  CommitOptions,
  NewMessage,
  PurgeRequest,
  PurgeResult,
  RecipientUpdate,
} from '../../contracts/spool.ts';
import { FINAL_STATUSES, type RecipientStatus } from '../../contracts/status.ts';
import { EngineError, type RecipientKey, type StoredUpdate, withSeqs } from './protocol.ts';
import { type ClaimRow, domainOf, eventData, jsonOrNull, toClaimedRecipient } from './rows.ts';
import type { SearchParts } from './search-parts.ts';

const PENDING = "status IN ('queued', 'deferred')";

const CLAIM_COLUMNS = `r.message_id, r.idx, r.address, r.domain, r.notify, r.orcpt, r.status, r.attempts,
  r.next_attempt_at, r.lease_owner, r.lease_until, r.held, r.last_reply, r.last_error_code, r.route,
  r.updated_at, m.received_at, m.mail_from, m.size`;

/**
 * The claim query: parameters are `now`, then (when `excluding`) a JSON array of
 * lower-cased domains, then `limit`. Exported so a test can check its query plan.
 */
export function claimSql(excluding: boolean): string {
  const exclude = excluding ? 'AND r.domain NOT IN (SELECT value FROM json_each(?))' : '';
  return `SELECT ${CLAIM_COLUMNS} FROM recipients r JOIN messages m ON m.id = r.message_id
    WHERE r.${PENDING} AND r.held = 0 AND r.due_at <= ? ${exclude} ORDER BY r.due_at LIMIT ?`;
}

/** What `mark` saves: the counter deltas and the search parts' state. */
export interface TransactionMark {
  readonly deltas: ReadonlyMap<string, number>;
  readonly parts: number;
}

interface RecipientState {
  status: string;
  attempts: number;
  next_attempt_at: number;
  last_reply: string | null;
  last_error_code: string | null;
  route: string | null;
}

function changes(result: { changes: number | bigint }): number {
  return Number(result.changes);
}

export class WriteOps {
  readonly #insertMessage: StatementSync;
  readonly #insertBody: StatementSync;
  readonly #insertRecipient: StatementSync;
  readonly #insertEvent: StatementSync;
  readonly #insertAttempt: StatementSync;
  readonly #addCount: StatementSync;
  readonly #pendingOf: StatementSync;
  readonly #cancelOne: StatementSync;
  readonly #claimSelect: StatementSync;
  readonly #claimSelectExcluding: StatementSync;
  readonly #lease: StatementSync;
  readonly #recipientState: StatementSync;
  readonly #updateSticky: StatementSync;
  readonly #updateRecipient: StatementSync;
  readonly #decrementPending: StatementSync;
  readonly #deleteBody: StatementSync;
  readonly #release: StatementSync;
  readonly #releaseAll: StatementSync;
  readonly #setHeld: StatementSync;
  readonly #retryNow: StatementSync;
  readonly #purgeCandidates: StatementSync;
  readonly #purgeRecipients: StatementSync;
  readonly #purgeAttempts: StatementSync;
  readonly #purgeBody: StatementSync;
  readonly #purgeMessage: StatementSync;
  readonly #oldestEvents: StatementSync;
  readonly #purgeEvents: StatementSync;
  /** Counter changes of the open transaction, written by beforeCommit. */
  #deltas = new Map<string, number>();
  readonly #parts: SearchParts;

  constructor(db: DatabaseSync, parts: SearchParts) {
    this.#parts = parts;
    this.#insertMessage = db.prepare(
      `INSERT INTO messages (id, received_at, mail_from, envelope, origin, headers, tags, size, pending, has_body,
         part)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    this.#insertBody = db.prepare('INSERT INTO bodies (id, data) VALUES (?, ?)');
    this.#insertRecipient = db.prepare(
      `INSERT INTO recipients (message_id, idx, address, domain, notify, orcpt, status, attempts,
         next_attempt_at, due_at, lease_owner, lease_until, held, updated_at, part)
       VALUES (?, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?, ?, 0, ?, ?)`,
    );
    this.#insertEvent = db.prepare('INSERT INTO events (at, message_id, type, data) VALUES (?, ?, ?, ?)');
    this.#insertAttempt = db.prepare('INSERT INTO attempts (message_id, idx, n, data) VALUES (?, ?, ?, ?)');
    this.#addCount = db.prepare('UPDATE counters SET value = value + ? WHERE name = ?');
    this.#claimSelect = db.prepare(claimSql(false));
    this.#claimSelectExcluding = db.prepare(claimSql(true));
    this.#lease = db.prepare(
      'UPDATE recipients SET lease_owner = ?, lease_until = ?, due_at = ? WHERE message_id = ? AND idx = ?',
    );
    this.#recipientState = db.prepare(
      `SELECT status, attempts, next_attempt_at, last_reply, last_error_code, route
       FROM recipients WHERE message_id = ? AND idx = ?`,
    );
    this.#updateSticky = db.prepare(
      `UPDATE recipients SET attempts = ?, lease_owner = NULL, lease_until = 0, updated_at = ?
       WHERE message_id = ? AND idx = ?`,
    );
    this.#updateRecipient = db.prepare(
      `UPDATE recipients SET status = ?, attempts = ?, next_attempt_at = ?, due_at = ?, last_reply = ?,
         last_error_code = ?, route = ?, lease_owner = NULL, lease_until = 0, updated_at = ?
       WHERE message_id = ? AND idx = ?`,
    );
    // The last pending recipient also marks the message bodyless (SET reads the old
    // row, RETURNING the new one); the body row itself goes in #onRecipientFinal.
    this.#decrementPending = db.prepare(
      `UPDATE messages SET pending = pending - 1, has_body = CASE WHEN pending > 1 THEN has_body ELSE 0 END
       WHERE id = ? RETURNING pending, size`,
    );
    this.#deleteBody = db.prepare('DELETE FROM bodies WHERE id = ?');
    this.#release = db.prepare(
      `UPDATE recipients SET lease_owner = NULL, lease_until = 0, due_at = next_attempt_at
       WHERE message_id = ? AND idx = ? AND lease_owner = ?`,
    );
    this.#releaseAll = db.prepare(
      `UPDATE recipients SET lease_owner = NULL, lease_until = 0, due_at = next_attempt_at
       WHERE lease_owner IS NOT NULL`,
    );
    this.#setHeld = db.prepare(
      `UPDATE recipients SET held = ?, updated_at = ? WHERE message_id = ? AND ${PENDING} AND held != ?`,
    );
    this.#retryNow = db.prepare(
      `UPDATE recipients SET next_attempt_at = ?, due_at = max(?, lease_until), updated_at = ?
       WHERE message_id = ? AND ${PENDING} AND held = 0`,
    );
    this.#pendingOf = db.prepare(
      `SELECT idx, address, status, lease_owner IS NOT NULL AND lease_until > ? AS in_flight
       FROM recipients WHERE message_id = ? AND ${PENDING} ORDER BY idx`,
    );
    this.#cancelOne = db.prepare(
      `UPDATE recipients SET status = 'cancelled', lease_owner = NULL, lease_until = 0, updated_at = ?
       WHERE message_id = ? AND idx = ?`,
    );
    // A bounded range scan of the primary key, oldest first, up to the cutoff id.
    this.#purgeCandidates = db.prepare(
      'SELECT id, received_at, pending, has_body, size FROM messages WHERE id > ? AND id < ? ORDER BY id LIMIT ?',
    );
    this.#purgeRecipients = db.prepare('DELETE FROM recipients WHERE message_id = ? RETURNING status');
    this.#purgeAttempts = db.prepare('DELETE FROM attempts WHERE message_id = ?');
    this.#purgeBody = db.prepare('DELETE FROM bodies WHERE id = ?');
    this.#purgeMessage = db.prepare('DELETE FROM messages WHERE id = ?');
    this.#oldestEvents = db.prepare('SELECT seq, at FROM events ORDER BY seq LIMIT ?');
    this.#purgeEvents = db.prepare('DELETE FROM events WHERE seq <= ?');
  }

  /** Returns the seq each of `options.events` got. */
  commit(message: NewMessage, options: CommitOptions | undefined): number[] {
    const now = Date.now();
    const recipients = message.envelope.recipients;
    const statuses: RecipientStatus[] = recipients.map((_, i) => message.initialStatus?.[i] ?? 'queued');
    const pending = statuses.filter((status) => !FINAL_STATUSES.has(status)).length;
    const size = message.body.byteLength;
    const part = this.#parts.place(message.id, recipients.length);
    this.#insertMessage.run(
      message.id,
      message.receivedAt,
      message.envelope.mailFrom,
      JSON.stringify(message.envelope),
      JSON.stringify(message.origin),
      JSON.stringify(message.headers),
      JSON.stringify(message.tags ?? {}),
      size,
      pending,
      pending > 0 ? 1 : 0,
      part,
    );
    this.#add('messages', 1);
    // A message that is final at once (all suppressed) never stores its body.
    if (pending > 0) {
      this.#insertBody.run(message.id, message.body);
      this.#add('body_bytes', size);
    }
    const claim = options?.claimFor;
    const leaseUntil = claim === undefined ? 0 : now + claim.leaseMs;
    recipients.forEach((recipient, index) => {
      const status = statuses[index]!;
      const leased = claim !== undefined && !FINAL_STATUSES.has(status);
      this.#insertRecipient.run(
        message.id,
        index,
        recipient.address,
        domainOf(recipient.address),
        jsonOrNull(recipient.notify),
        jsonOrNull(recipient.orcpt),
        status,
        message.receivedAt,
        leased ? leaseUntil : message.receivedAt,
        leased ? claim.owner : null,
        leased ? leaseUntil : 0,
        now,
        part,
      );
      this.#countStatus(status, 1);
    });
    return this.#storeEvents(options?.events);
  }

  claimDue(request: ClaimRequest): ClaimedRecipient[] {
    const excluded = request.excludeDomains === undefined ? [] : [...request.excludeDomains];
    const rows = (excluded.length === 0
      ? this.#claimSelect.all(request.now, request.limit)
      : this.#claimSelectExcluding.all(
          request.now,
          JSON.stringify(excluded.map((d) => d.toLowerCase())),
          request.limit,
        )) as unknown as ClaimRow[];
    const leaseUntil = request.now + request.leaseMs;
    return rows.map((row) => {
      this.#lease.run(request.owner, leaseUntil, leaseUntil, row.message_id, row.idx);
      return toClaimedRecipient(row);
    });
  }

  update(updates: readonly RecipientUpdate[], events: readonly LifecycleEvent[] | undefined): StoredUpdate {
    const now = Date.now();
    const finished: string[] = [];
    for (const u of updates) {
      const row = this.#recipientState.get(u.messageId, u.index) as RecipientState | undefined;
      if (row === undefined) throw new EngineError('not-found', `recipient ${u.messageId}#${u.index}`);
      let attempts = row.attempts;
      if (u.attempt !== undefined) {
        attempts += 1;
        this.#insertAttempt.run(u.messageId, u.index, attempts, JSON.stringify(u.attempt));
      }
      // A cancel that came while this delivery was in flight does not undo its arrival.
      const arrivedAfterCancel = row.status === 'cancelled' && u.status === 'delivered';
      const wasFinal = FINAL_STATUSES.has(row.status as RecipientStatus);
      if (wasFinal && !arrivedAfterCancel) {
        // Sticky: record that an attempt happened, release the lease, keep the outcome.
        this.#updateSticky.run(attempts, now, u.messageId, u.index);
        continue;
      }
      const final = FINAL_STATUSES.has(u.status);
      const nextAttemptAt = final ? row.next_attempt_at : u.nextAttemptAt!;
      // lastReply and lastErrorCode describe the latest outcome together.
      const outcomeGiven = u.lastReply !== undefined || u.lastErrorCode !== undefined;
      this.#updateRecipient.run(
        u.status,
        attempts,
        nextAttemptAt,
        nextAttemptAt,
        outcomeGiven ? jsonOrNull(u.lastReply) : row.last_reply,
        outcomeGiven ? (u.lastErrorCode ?? null) : row.last_error_code,
        u.route ?? row.route,
        now,
        u.messageId,
        u.index,
      );
      if (u.status !== row.status) {
        this.#countStatus(row.status, -1);
        this.#countStatus(u.status, 1);
      }
      if (final && !wasFinal && this.#onRecipientFinal(u.messageId)) finished.push(u.messageId);
    }
    return { seqs: this.#storeEvents(events), finished };
  }

  release(owner: string, keys: readonly RecipientKey[]): void {
    for (const key of keys) this.#release.run(key.messageId, key.index, owner);
  }

  /** Single node: every lease in this database was ours, so a restart frees them all. */
  releaseAllLeases(): number {
    return changes(this.#releaseAll.run());
  }

  setHeld(messageId: string, held: boolean): number {
    const flag = held ? 1 : 0;
    return changes(this.#setHeld.run(flag, Date.now(), messageId, flag));
  }

  retryNow(messageId: string, now: number): number {
    return changes(this.#retryNow.run(now, now, Date.now(), messageId));
  }

  /** Pending recipients become `cancelled`, each with a stored event; returns those events. */
  cancel(messageId: string, now: number): LifecycleEvent[] {
    const rows = this.#pendingOf.all(now, messageId) as unknown as {
      idx: number;
      address: string;
      status: string;
      in_flight: number;
    }[];
    const at = Date.now();
    for (const row of rows) {
      this.#cancelOne.run(at, messageId, row.idx);
      this.#countStatus(row.status, -1);
      this.#countStatus('cancelled', 1);
      this.#onRecipientFinal(messageId);
    }
    const events: LifecycleEvent[] = rows.map((row) => ({
      type: 'cancelled',
      seq: 0,
      at: now,
      messageId,
      recipient: row.address,
      ...(row.in_flight === 1 ? { inFlight: true } : {}),
    }));
    return withSeqs(events, this.#storeEvents(events));
  }

  purge(request: PurgeRequest): PurgeResult {
    const rows = this.#purgeCandidates.all(
      request.afterId ?? '',
      request.beforeId,
      request.limit,
    ) as unknown as {
      id: string;
      received_at: number;
      pending: number;
      has_body: number;
      size: number;
    }[];
    let messages = 0;
    for (const row of rows) {
      if (row.pending > 0 || row.received_at >= request.before) continue;
      messages += 1;
      const deleted = this.#purgeRecipients.all(row.id) as unknown as { status: string }[];
      for (const recipient of deleted) this.#countStatus(recipient.status, -1);
      this.#purgeAttempts.run(row.id);
      if (row.has_body === 1) {
        this.#purgeBody.run(row.id);
        this.#add('body_bytes', -row.size);
      }
      this.#purgeMessage.run(row.id);
      this.#add('messages', -1);
    }
    // Events are in time order by seq: drop the oldest run of them stored before the cutoff.
    const oldest = this.#oldestEvents.all(request.limit) as unknown as { seq: number; at: number }[];
    let last = 0;
    let events = 0;
    // Events after `sentUpTo` are held for a webhook, unless stored before `holdFloor`.
    const sentUpTo = request.keepEventsAfter ?? Number.POSITIVE_INFINITY;
    const holdFloor = request.dropHeldBefore ?? Number.NEGATIVE_INFINITY;
    for (const event of oldest) {
      if (event.at >= request.before) break;
      if (event.seq > sentUpTo && event.at >= holdFloor) break;
      last = event.seq;
      events += 1;
    }
    if (events > 0) this.#purgeEvents.run(last);
    const scannedTo = rows.length === request.limit ? rows[rows.length - 1]!.id : undefined;
    // Once a pass has scanned every message below the cutoff, drop the parts it emptied.
    if (scannedTo === undefined) this.#parts.prune(request.beforeId);
    return {
      messages,
      events,
      ...(events > 0 ? { lastEventSeq: last } : {}),
      ...(scannedTo === undefined ? {} : { scannedTo }),
    };
  }

  /** Writes the counter changes of this transaction: call before COMMIT. */
  beforeCommit(): void {
    for (const [name, delta] of this.#deltas) if (delta !== 0) this.#addCount.run(delta, name);
    this.#deltas.clear();
  }

  /** The transaction committed (after COMMIT). */
  committed(): void {
    this.#parts.settle();
  }

  /** The transaction was rolled back: forgets its counter changes, reloads the parts if it changed them. */
  rolledBack(): void {
    this.#deltas.clear();
    this.#parts.drop();
  }

  /** The state so far, to return to when a savepoint is rolled back. */
  mark(): TransactionMark {
    return { deltas: new Map(this.#deltas), parts: this.#parts.mark() };
  }

  restore(mark: TransactionMark): void {
    this.#deltas = new Map(mark.deltas);
    this.#parts.restore(mark.parts);
  }

  #add(name: string, delta: number): void {
    this.#deltas.set(name, (this.#deltas.get(name) ?? 0) + delta);
  }

  #countStatus(status: string, delta: number): void {
    this.#add(`status:${status}`, delta);
  }

  /** One recipient left the pending set; true when it was the message's last. */
  #onRecipientFinal(messageId: string): boolean {
    const left = this.#decrementPending.get(messageId) as { pending: number; size: number } | undefined;
    if (left === undefined || left.pending > 0) return false;
    // has_body was 1 unless the body is already gone: the delete says which.
    if (changes(this.#deleteBody.run(messageId)) > 0) this.#add('body_bytes', -left.size);
    return true;
  }

  /** Stores `events` in order; returns the `seq` each row got. */
  #storeEvents(events: readonly LifecycleEvent[] | undefined): number[] {
    if (events === undefined) return [];
    return events.map((event) =>
      Number(this.#insertEvent.run(event.at, event.messageId, event.type, eventData(event)).lastInsertRowid),
    );
  }
}
