/**
 * `GET /api/v1/messages`: messages newest first, filtered by recipient status,
 * recipient, sender, recipient domain and arrival time, in pages of at most 500
 * with an opaque `next` cursor (present only when more messages follow).
 *
 * Query values are UNTRUSTED: the route schema bounds them; addresses and domains
 * are parsed like SMTP's (protocol/address.ts), times are ISO 8601 or epoch ms,
 * and a cursor must be one this API produced. Each failure is a 400 naming the field.
 */
import type { FastifyInstance } from 'fastify';
import type { ListFilter } from '../../../contracts/spool.ts';
import type { RecipientStatus } from '../../../contracts/status.ts';
import { formatMailbox, parseDomain, parseMailbox } from '../../../protocol/address.ts';
import { isQueueId } from '../../../runtime/ids.ts';
import { listQuery } from '../schemas.ts';
import { type ApiDeps, badRequest } from '../server.ts';
import { messageSummaryView } from '../views.ts';

interface ListQuery {
  status?: RecipientStatus;
  recipient?: string;
  sender?: string;
  domain?: string;
  since?: string;
  until?: string;
  cursor?: string;
  limit?: number;
}

const CURSOR_PREFIX = 'm1.';

export function encodeCursor(id: string): string {
  return Buffer.from(`${CURSOR_PREFIX}${id}`, 'utf8').toString('base64url');
}

export function decodeCursor(cursor: string): string | undefined {
  if (!/^[A-Za-z0-9_-]+$/.test(cursor)) return undefined;
  const text = Buffer.from(cursor, 'base64url').toString('utf8');
  if (!text.startsWith(CURSOR_PREFIX)) return undefined;
  const id = text.slice(CURSOR_PREFIX.length);
  return isQueueId(id) ? id : undefined;
}

/** ISO 8601 (date or date-time) or integer epoch milliseconds; undefined when neither. */
export function parseTime(text: string): number | undefined {
  if (/^\d{1,15}$/.test(text)) return Number(text);
  if (
    !/^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:?\d{2})?)?$/i.test(text)
  ) {
    return undefined;
  }
  const ms = Date.parse(text);
  return Number.isFinite(ms) ? ms : undefined;
}

function address(text: string): string | { error: string } {
  const parsed = parseMailbox(text, { allowUtf8: true });
  return parsed.ok ? formatMailbox(parsed.value) : { error: parsed.message };
}

interface FieldProblem {
  readonly field: string;
  readonly detail: string;
}

/** The spool filter for a query, or what is wrong with it. */
function toFilter(q: ListQuery): ListFilter | FieldProblem {
  const filter: { -readonly [K in keyof ListFilter]: ListFilter[K] } = { limit: (q.limit ?? 50) + 1 };
  if (q.status !== undefined) filter.status = q.status;
  if (q.recipient !== undefined) {
    const parsed = address(q.recipient);
    if (typeof parsed !== 'string') return { field: 'recipient', detail: parsed.error };
    filter.recipient = parsed;
  }
  if (q.sender !== undefined) {
    const parsed = q.sender === '<>' || q.sender === '' ? '' : address(q.sender);
    if (typeof parsed !== 'string') return { field: 'sender', detail: parsed.error };
    filter.sender = parsed;
  }
  if (q.domain !== undefined) {
    const parsed = parseDomain(q.domain.replace(/\.$/, ''), true);
    if (!parsed.ok) return { field: 'domain', detail: parsed.message };
    filter.domain = parsed.value;
  }
  for (const key of ['since', 'until'] as const) {
    const text = q[key];
    if (text === undefined) continue;
    const ms = parseTime(text);
    if (ms === undefined) return { field: key, detail: 'expected an ISO 8601 time or epoch milliseconds' };
    filter[key] = ms;
  }
  if (q.cursor !== undefined) {
    const id = decodeCursor(q.cursor);
    if (id === undefined) return { field: 'cursor', detail: 'not a cursor from this API' };
    filter.before = id;
  }
  return filter;
}

export function registerMessageList(app: FastifyInstance, deps: ApiDeps): void {
  app.get<{ Querystring: ListQuery }>(
    '/api/v1/messages',
    { schema: { querystring: listQuery } },
    async (request, reply) => {
      const filter = toFilter(request.query);
      if ('field' in filter) return badRequest(reply, filter.field, filter.detail);
      const limit = filter.limit - 1;
      // One more than asked tells whether another page exists.
      const rows = await deps.spool.list(filter);
      const page = rows.slice(0, limit);
      const last = page.at(-1);
      return {
        messages: page.map(messageSummaryView),
        ...(rows.length > limit && last !== undefined ? { next: encodeCursor(last.id) } : {}),
      };
    },
  );
}
