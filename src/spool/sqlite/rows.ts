/**
 * Mapping between SQLite rows and the spool contract's objects.
 *
 * Pure functions. Input rows come from our own tables (JSON columns written by
 * this module), so a malformed value means a corrupted database: `JSON.parse`
 * throws and the operation fails as an I/O error rather than guessing.
 * Optional fields are omitted (not set to undefined) when the column is NULL.
 */
import type { EnvelopeInput, Origin, RecipientInput } from '../../contracts/envelope.ts';
import type { LifecycleEvent } from '../../contracts/events.ts';
import type { ClaimedRecipient, StoredMessage, StoredRecipient } from '../../contracts/spool.ts';
import type { RecipientStatus, SmtpReply } from '../../contracts/status.ts';

export interface MessageRow {
  id: string;
  received_at: number;
  mail_from: string;
  envelope: string;
  origin: string;
  headers: string;
  tags: string;
  size: number;
  pending: number;
  has_body: number;
}

export interface RecipientRow {
  message_id: string;
  idx: number;
  address: string;
  domain: string;
  notify: string | null;
  orcpt: string | null;
  status: string;
  attempts: number;
  next_attempt_at: number;
  lease_owner: string | null;
  lease_until: number;
  held: number;
  last_reply: string | null;
  last_error_code: string | null;
  route: string | null;
  updated_at: number;
}

export interface ClaimRow extends RecipientRow {
  received_at: number;
  mail_from: string;
  size: number;
}

export interface EventRow {
  seq: number;
  data: string;
}

/** Lower-cased domain of `local@domain`; `''` for a bare local part such as `postmaster`. */
export function domainOf(address: string): string {
  const at = address.lastIndexOf('@');
  return at < 0 ? '' : address.slice(at + 1).toLowerCase();
}

export function jsonOrNull(value: unknown): string | null {
  return value === undefined ? null : JSON.stringify(value);
}

export function toStoredRecipient(row: RecipientRow): StoredRecipient {
  const out: {
    -readonly [K in keyof StoredRecipient]: StoredRecipient[K];
  } = {
    messageId: row.message_id,
    index: row.idx,
    address: row.address,
    domain: row.domain,
    status: row.status as RecipientStatus,
    attempts: row.attempts,
    nextAttemptAt: row.next_attempt_at,
    updatedAt: row.updated_at,
    held: row.held !== 0,
  };
  if (row.notify !== null) out.notify = JSON.parse(row.notify) as RecipientInput['notify'];
  if (row.orcpt !== null) out.orcpt = JSON.parse(row.orcpt) as RecipientInput['orcpt'];
  if (row.last_reply !== null) out.lastReply = JSON.parse(row.last_reply) as SmtpReply;
  if (row.last_error_code !== null) out.lastErrorCode = row.last_error_code;
  if (row.route !== null) out.route = row.route;
  return out;
}

export function toClaimedRecipient(row: ClaimRow): ClaimedRecipient {
  return {
    ...toStoredRecipient(row),
    receivedAt: row.received_at,
    mailFrom: row.mail_from,
    size: row.size,
  };
}

export function toStoredMessage(row: MessageRow, recipients: readonly RecipientRow[]): StoredMessage {
  return {
    id: row.id,
    receivedAt: row.received_at,
    envelope: JSON.parse(row.envelope) as EnvelopeInput,
    origin: JSON.parse(row.origin) as Origin,
    size: row.size,
    headers: JSON.parse(row.headers) as Record<string, string>,
    tags: JSON.parse(row.tags) as Record<string, string>,
    recipients: recipients.map(toStoredRecipient),
    hasBody: row.has_body !== 0,
  };
}

/** Events are stored without `seq`; the row's key is the sequence number. */
export function eventData(event: LifecycleEvent): string {
  const { seq: _seq, ...rest } = event;
  return JSON.stringify(rest);
}

export function toEvent(row: EventRow): LifecycleEvent {
  const parsed = JSON.parse(row.data) as Omit<LifecycleEvent, 'seq'>;
  return { ...parsed, seq: row.seq } as LifecycleEvent;
}
