/**
 * Argument checks for spool calls, run on the caller's thread before a request
 * is queued, so a bad call fails at once and never reaches a transaction.
 *
 * In: what a caller passed. Out: nothing, or a thrown `TypeError` naming the
 * first problem (the spool turns it into a SPOOL_IO rejection). These are
 * programming errors, not peer input: addresses were validated by protocol/.
 * The limits here bound the work one request can put into one transaction.
 */
import type { LifecycleEvent } from '../../contracts/events.ts';
import type {
  ClaimRequest,
  CommitOptions,
  ListFilter,
  NewMessage,
  PurgeRequest,
  RecipientUpdate,
} from '../../contracts/spool.ts';
import { FINAL_STATUSES, type RecipientStatus } from '../../contracts/status.ts';
import type { RecipientKey } from './protocol.ts';
import { ALL_STATUSES } from './schema.ts';

export const LIMITS = {
  recipientsPerMessage: 10_000,
  updatesPerCall: 10_000,
  claimLimit: 10_000,
  listLimit: 1_000,
  eventsLimit: 10_000,
  purgeLimit: 10_000,
  eventsPerCall: 10_000,
  attemptsPerCall: 10_000,
  idLength: 64,
} as const;

const STATUSES: ReadonlySet<string> = new Set(ALL_STATUSES);

function fail(message: string): never {
  throw new TypeError(message);
}

function checkId(id: unknown, what: string): void {
  if (typeof id !== 'string' || id.length === 0 || id.length > LIMITS.idLength) fail(`bad ${what}: ${id}`);
}

function checkTime(value: unknown, what: string): void {
  if (typeof value !== 'number' || !Number.isFinite(value)) fail(`bad ${what}: ${value}`);
}

function checkCount(value: unknown, max: number, what: string): void {
  if (!Number.isInteger(value) || (value as number) < 1 || (value as number) > max) {
    fail(`bad ${what}: ${value} (1..${max})`);
  }
}

function checkIndex(value: unknown): void {
  if (!Number.isInteger(value) || (value as number) < 0) fail(`bad recipient index: ${value}`);
}

/** A commit's message and options (the lease and the events stored with it). */
export function checkCommit(message: NewMessage, options: CommitOptions | undefined): void {
  checkId(message.id, 'message id');
  checkTime(message.receivedAt, 'receivedAt');
  if (!(message.body instanceof Uint8Array)) fail('body must be a Uint8Array');
  if (message.body.buffer instanceof ArrayBuffer && message.body.buffer.detached)
    fail('body buffer is detached (already handed to the spool?)');
  const count = message.envelope.recipients.length;
  checkCount(count, LIMITS.recipientsPerMessage, 'recipient count');
  if (message.initialStatus !== undefined) {
    if (message.initialStatus.length !== count) fail('initialStatus must have one entry per recipient');
    for (const status of message.initialStatus) {
      if (!STATUSES.has(status)) fail(`bad status: ${status}`);
    }
  }
  const leaseMs = options?.claimFor?.leaseMs;
  if (leaseMs !== undefined) checkTime(leaseMs, 'leaseMs');
  checkEvents(options?.events);
}

export function checkClaim(request: ClaimRequest): void {
  checkTime(request.now, 'now');
  checkTime(request.leaseMs, 'leaseMs');
  if (request.leaseMs <= 0) fail('leaseMs must be positive');
  if (typeof request.owner !== 'string' || request.owner.length === 0) fail('owner is required');
  checkCount(request.limit, LIMITS.claimLimit, 'claim limit');
}

export function checkEvents(events: readonly LifecycleEvent[] | undefined): void {
  if (events === undefined) return;
  if (events.length > LIMITS.eventsPerCall) fail(`too many events: ${events.length}`);
  for (const event of events) {
    // '' is allowed: operator events (a suppression added by hand) belong to no message.
    if (typeof event.messageId !== 'string' || event.messageId.length > LIMITS.idLength)
      fail(`bad event message id: ${event.messageId}`);
    checkTime(event.at, 'event time');
  }
}

export function checkUpdates(updates: readonly RecipientUpdate[], events?: readonly LifecycleEvent[]): void {
  if (updates.length > LIMITS.updatesPerCall) fail(`too many updates: ${updates.length}`);
  checkEvents(events);
  for (const u of updates) {
    checkId(u.messageId, 'message id');
    checkIndex(u.index);
    if (!STATUSES.has(u.status)) fail(`bad status: ${u.status}`);
    if (!FINAL_STATUSES.has(u.status as RecipientStatus)) checkTime(u.nextAttemptAt, 'nextAttemptAt');
  }
}

export function checkKeys(keys: readonly RecipientKey[]): void {
  if (keys.length > LIMITS.updatesPerCall) fail(`too many keys: ${keys.length}`);
  for (const key of keys) {
    checkId(key.messageId, 'message id');
    checkIndex(key.index);
  }
}

export function checkList(filter: ListFilter): void {
  checkCount(filter.limit, LIMITS.listLimit, 'list limit');
  if (filter.status !== undefined && !STATUSES.has(filter.status)) fail(`bad status: ${filter.status}`);
  if (filter.since !== undefined) checkTime(filter.since, 'since');
  if (filter.until !== undefined) checkTime(filter.until, 'until');
  if (filter.before !== undefined) checkId(filter.before, 'cursor');
}

export function checkEventsSince(after: number, limit: number): void {
  if (!Number.isInteger(after) || after < 0) fail(`bad event cursor: ${after}`);
  checkCount(limit, LIMITS.eventsLimit, 'events limit');
}

export function checkPurge(request: PurgeRequest): void {
  checkTime(request.before, 'purge cutoff');
  checkId(request.beforeId, 'purge cutoff id');
  if (request.afterId !== undefined) checkId(request.afterId, 'purge cursor');
  checkCount(request.limit, LIMITS.purgeLimit, 'purge limit');
  if (
    request.keepEventsAfter !== undefined &&
    (!Number.isInteger(request.keepEventsAfter) || request.keepEventsAfter < 0)
  )
    fail(`bad purge event floor: ${request.keepEventsAfter}`);
  if (request.dropHeldBefore !== undefined) checkTime(request.dropHeldBefore, 'purge hold cutoff');
}

export { checkId, checkTime };
