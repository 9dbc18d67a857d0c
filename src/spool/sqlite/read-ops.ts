/**
 * The spool's read operations as synchronous SQLite queries.
 *
 * In: validated requests. Out: contract objects (rows.ts). Never writes. Throws
 * `EngineError('not-found')` for a released or unknown body. Filter values from
 * the admin API (addresses, domains) are only ever bound parameters.
 *
 * `list` walks messages newest first by primary key and stops at `limit`:
 * `before` is an index range; `sender` and `recipient` walk the search parts newest
 * first (search-parts.ts), one probe of the sender or address index each;
 * `status` and `domain` are per-message probes of the recipients key, so a filter
 * that matches rarely costs a walk over the messages it skips.
 */
import type { DatabaseSync, StatementSync } from 'node:sqlite';
import type { LifecycleEvent } from '../../contracts/events.ts';
import type { ListFilter, SpoolStats, StoredAttempt, StoredMessage } from '../../contracts/spool.ts';
import type { Attempt, RecipientStatus } from '../../contracts/status.ts';
import { EngineError } from './protocol.ts';
import {
  domainOf,
  type EventRow,
  type MessageRow,
  type RecipientRow,
  toEvent,
  toStoredMessage,
} from './rows.ts';
import { ALL_STATUSES } from './schema.ts';
import type { SearchParts } from './search-parts.ts';

/** `local@Domain` with the domain lower-cased, as addresses are stored. */
function normalizeAddress(address: string): string {
  const at = address.lastIndexOf('@');
  return at < 0 ? address : `${address.slice(0, at)}@${domainOf(address)}`;
}

/**
 * The list query for `filter`: its SQL, its parameters (then `limit` last), and
 * where in them a search part's number goes (empty when the query walks no parts).
 * Exported so a test can check its query plans.
 */
export function listQuery(filter: Omit<ListFilter, 'limit'>): ListQuery {
  const where: string[] = [];
  const params: (string | number)[] = [];
  const partSlots: number[] = [];
  if (filter.before !== undefined) {
    where.push('m.id < ?');
    params.push(filter.before);
  }
  if (filter.sender !== undefined) {
    where.push('m.part = ? AND m.mail_from = ?');
    partSlots.push(params.length);
    params.push(0, normalizeAddress(filter.sender));
  }
  if (filter.since !== undefined) {
    where.push('m.received_at >= ?');
    params.push(filter.since);
  }
  if (filter.until !== undefined) {
    where.push('m.received_at < ?');
    params.push(filter.until);
  }
  if (filter.recipient !== undefined) {
    where.push('m.id IN (SELECT message_id FROM recipients WHERE part = ? AND address = ?)');
    partSlots.push(params.length);
    params.push(0, normalizeAddress(filter.recipient));
  }
  if (filter.status !== undefined) {
    where.push('EXISTS (SELECT 1 FROM recipients r WHERE r.message_id = m.id AND r.status = ?)');
    params.push(filter.status);
  }
  if (filter.domain !== undefined) {
    where.push('EXISTS (SELECT 1 FROM recipients r WHERE r.message_id = m.id AND r.domain = ?)');
    params.push(filter.domain.toLowerCase());
  }
  const clause = where.length === 0 ? '' : `WHERE ${where.join(' AND ')}`;
  return { sql: `SELECT m.* FROM messages m ${clause} ORDER BY m.id DESC LIMIT ?`, params, partSlots };
}

export interface ListQuery {
  readonly sql: string;
  readonly params: (string | number)[];
  readonly partSlots: readonly number[];
}

export class ReadOps {
  readonly #db: DatabaseSync;
  readonly #message: StatementSync;
  readonly #recipients: StatementSync;
  readonly #body: StatementSync;
  readonly #events: StatementSync;
  readonly #counters: StatementSync;
  readonly #attempts: StatementSync;
  /** Prepared list queries by SQL text; at most 2^7 shapes exist. */
  readonly #listQueries = new Map<string, StatementSync>();
  readonly #parts: SearchParts;

  constructor(db: DatabaseSync, parts: SearchParts) {
    this.#db = db;
    this.#parts = parts;
    this.#message = db.prepare('SELECT * FROM messages WHERE id = ?');
    this.#recipients = db.prepare('SELECT * FROM recipients WHERE message_id = ? ORDER BY idx');
    this.#body = db.prepare('SELECT data FROM bodies WHERE id = ?');
    this.#events = db.prepare('SELECT seq, data FROM events WHERE seq > ? ORDER BY seq LIMIT ?');
    this.#counters = db.prepare('SELECT name, value FROM counters');
    this.#attempts = db.prepare(
      'SELECT idx, n, data FROM attempts WHERE message_id = ? ORDER BY idx, n LIMIT ?',
    );
  }

  getMessage(id: string): StoredMessage | undefined {
    const row = this.#message.get(id) as MessageRow | undefined;
    return row === undefined ? undefined : this.#withRecipients(row);
  }

  readBody(id: string): Uint8Array {
    const row = this.#body.get(id) as { data: Uint8Array } | undefined;
    if (row === undefined) throw new EngineError('not-found', `body of ${id}`);
    return row.data;
  }

  list(filter: ListFilter): StoredMessage[] {
    const { sql, params, partSlots } = listQuery(filter);
    const statement = this.#prepared(sql);
    if (partSlots.length === 0) {
      const rows = statement.all(...params, filter.limit) as unknown as MessageRow[];
      return rows.map((row) => this.#withRecipients(row));
    }
    // Parts hold id ranges, newest first, so their pages follow on in id order.
    const found: StoredMessage[] = [];
    for (const part of this.#parts.newestFirst(filter.before)) {
      for (const slot of partSlots) params[slot] = part.n;
      const rows = statement.all(...params, filter.limit - found.length) as unknown as MessageRow[];
      for (const row of rows) found.push(this.#withRecipients(row));
      if (found.length >= filter.limit) break;
    }
    return found;
  }

  /** The prepared list query for `sql`. */
  #prepared(sql: string): StatementSync {
    let statement = this.#listQueries.get(sql);
    if (statement === undefined) {
      statement = this.#db.prepare(sql);
      this.#listQueries.set(sql, statement);
    }
    return statement;
  }

  attempts(messageId: string, limit: number): StoredAttempt[] {
    const rows = this.#attempts.all(messageId, limit) as unknown as {
      idx: number;
      n: number;
      data: string;
    }[];
    return rows.map((row) => ({ index: row.idx, n: row.n, attempt: JSON.parse(row.data) as Attempt }));
  }

  eventsSince(after: number, limit: number): LifecycleEvent[] {
    const rows = this.#events.all(after, limit) as unknown as EventRow[];
    return rows.map(toEvent);
  }

  stats(): SpoolStats {
    const rows = this.#counters.all() as unknown as { name: string; value: number }[];
    const values = new Map(rows.map((row) => [row.name, row.value]));
    const byStatus = Object.fromEntries(
      ALL_STATUSES.map((status) => [status, values.get(`status:${status}`) ?? 0]),
    ) as Record<RecipientStatus, number>;
    return {
      messages: values.get('messages') ?? 0,
      recipientsByStatus: byStatus,
      bodyBytes: values.get('body_bytes') ?? 0,
    };
  }

  #withRecipients(row: MessageRow): StoredMessage {
    return toStoredMessage(row, this.#recipients.all(row.id) as unknown as RecipientRow[]);
  }
}
