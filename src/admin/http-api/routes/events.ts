/**
 * `GET /api/v1/events`: the live lifecycle stream as Server-Sent Events.
 *
 * `event:` is the lifecycle type, `id:` the spool seq, `data:` the JSON event.
 * Filters: `?types=delivered,bounced&message=ID&recipient=ADDR&domain=DOMAIN`.
 * Resume with `Last-Event-ID` (or `?since=SEQ`): stored events after that seq are
 * replayed from `spool.eventsSince` before live ones, without gaps or duplicates:
 *   1. subscribe first, holding live events in a bounded list;
 *   2. replay pages until the store has nothing newer than the last seq sent
 *      (`high`); a list that overflowed is dropped and the store read again,
 *      since every published event was stored before it was published;
 *   3. switch to live: send the held events, then each new one, skipping any
 *      with seq <= `high` (already replayed).
 * Without a resume point the stream starts live. A heartbeat comment every 15 s
 * keeps proxies from closing it; a client that does not read is disconnected
 * (sse-stream.ts). Query values are UNTRUSTED and checked like everywhere else.
 */
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { LifecycleEvent, LifecycleEventType } from '../../../contracts/events.ts';
import { formatMailbox, parseDomain, parseMailbox } from '../../../protocol/address.ts';
import { EVENT_TYPES, eventsQuery } from '../schemas.ts';
import { type ApiDeps, badRequest, sendProblem } from '../server.ts';
import { type EventFilter, matchesFilter } from '../sse/event-filter.ts';
import { SseStream } from '../sse/sse-stream.ts';

interface EventsQuery {
  types?: string;
  message?: string;
  recipient?: string;
  domain?: string;
  since?: number;
}

const REPLAY_PAGE = 500;
/** Live events held while replaying; past this the list is dropped and the store read again. */
const MAX_HELD = 5_000;
const DEFAULTS = {
  heartbeatMs: 15_000,
  maxBufferedBytes: 1024 * 1024,
  maxClients: 100,
  drainTimeoutMs: 30_000,
};

const KNOWN_TYPES: ReadonlySet<string> = new Set(EVENT_TYPES);

type Parsed = { filter: EventFilter; resumeAfter: number | undefined } | { field: string; detail: string };

function parseRequest(query: EventsQuery, lastEventId: string | string[] | undefined): Parsed {
  const filter: { -readonly [K in keyof EventFilter]: EventFilter[K] } = {};
  if (query.types !== undefined) {
    const types = query.types.split(',').map((t) => t.trim());
    const unknown = types.find((t) => !KNOWN_TYPES.has(t));
    if (unknown !== undefined)
      return { field: 'types', detail: `unknown event type "${unknown.slice(0, 40)}"` };
    filter.types = new Set(types as LifecycleEventType[]);
  }
  if (query.message !== undefined) filter.messageId = query.message;
  if (query.recipient !== undefined) {
    const parsed = parseMailbox(query.recipient, { allowUtf8: true });
    if (!parsed.ok) return { field: 'recipient', detail: parsed.message };
    filter.recipient = formatMailbox(parsed.value);
  }
  if (query.domain !== undefined) {
    const parsed = parseDomain(query.domain.replace(/\.$/, ''), true);
    if (!parsed.ok) return { field: 'domain', detail: parsed.message };
    filter.domain = parsed.value;
  }
  let resumeAfter = query.since;
  if (lastEventId !== undefined) {
    const text = Array.isArray(lastEventId) ? lastEventId[0] : lastEventId;
    if (text === undefined || !/^\d{1,15}$/.test(text.trim())) {
      return { field: 'Last-Event-ID', detail: 'expected the id (seq) of a received event' };
    }
    resumeAfter = Number(text.trim());
  }
  return { filter, resumeAfter };
}

export function registerEvents(app: FastifyInstance, deps: ApiDeps): void {
  const limits = { ...DEFAULTS, ...deps.sse };
  const streams = new Set<SseStream>();
  let clients = 0;
  // Open streams never end on their own: end them first, or closing the server would wait forever.
  app.addHook('preClose', async () => {
    for (const stream of streams) stream.close('server');
  });
  app.get<{ Querystring: EventsQuery }>(
    '/api/v1/events',
    { schema: { querystring: eventsQuery } },
    async (request, reply): Promise<FastifyReply | undefined> => {
      const parsed = parseRequest(request.query, request.headers['last-event-id']);
      if ('field' in parsed) return badRequest(reply, parsed.field, parsed.detail);
      if (clients >= limits.maxClients) {
        return sendProblem(reply.header('retry-after', '10'), {
          status: 503,
          detail: `events: already ${limits.maxClients} clients on the live stream`,
        });
      }
      clients += 1;
      reply.hijack();
      const stream = new SseStream(reply.raw, limits);
      streams.add(stream);
      try {
        await serve(stream, deps, parsed.filter, parsed.resumeAfter);
      } catch {
        // A spool failure during replay: end the stream; the client resumes from its last id.
        stream.close('server');
      } finally {
        streams.delete(stream);
        clients -= 1;
      }
      return undefined;
    },
  );
}

async function serve(
  stream: SseStream,
  deps: ApiDeps,
  filter: EventFilter,
  resumeAfter: number | undefined,
): Promise<void> {
  let live = false;
  let high = resumeAfter ?? 0;
  let held: LifecycleEvent[] = [];
  let overflowed = false;
  const send = (event: LifecycleEvent): void => {
    if (matchesFilter(event, filter)) stream.event(event);
  };
  const unsubscribe = deps.subscribe?.((event) => {
    if (live) {
      if (event.seq === 0 || event.seq > high) send(event);
    } else if (held.length < MAX_HELD) {
      held.push(event);
    } else {
      overflowed = true;
    }
  });
  try {
    if (resumeAfter !== undefined) {
      for (;;) {
        const page = await deps.spool.eventsSince(high, REPLAY_PAGE);
        for (const event of page) send(event);
        if (page.length > 0) high = page.at(-1)!.seq;
        if (!(await stream.drained())) return;
        if (page.length === REPLAY_PAGE) continue;
        if (!overflowed) break;
        // Events were dropped from the held list: they are all stored, read again.
        overflowed = false;
        held = [];
      }
    }
    live = true;
    for (const event of held) if (event.seq === 0 || event.seq > high) send(event);
    held = [];
    if (unsubscribe === undefined) stream.comment('live events are not available on this server');
    await stream.closed;
  } finally {
    unsubscribe?.();
  }
}
