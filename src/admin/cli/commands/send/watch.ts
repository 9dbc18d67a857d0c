/**
 * Waits for the verdict on every recipient `mxpress send` submitted: follows the
 * live event stream (`GET /api/v1/events`, outcome types only) and, because events
 * may pass before the stream is connected, also reads each unfinished message
 * (`GET /api/v1/messages/{id}`) at the start and every few seconds. Whichever
 * source is newer wins; a final status is never replaced.
 *
 * In: the client, the recipients to track, a time limit and an abort signal.
 * Out: 'done' (every recipient final), 'timeout' or 'interrupted'. If the stream
 * fails it carries on by reading messages. Event data is UNTRUSTED: only known
 * fields of the right type are used, reply text passes through `clean`.
 */
import { setTimeout as delay } from 'node:timers/promises';
import type { ApiClient } from '../../api-client.ts';
import { clean, replyText } from '../api-common.ts';

export const FINAL = new Set(['delivered', 'bounced', 'expired', 'suppressed', 'cancelled', 'refused']);
const OUTCOME_TYPES = 'delivered,deferred,bounced,expired,suppressed,cancelled';
const RECHECK_MS = 1_000;
const RECHECK_CONCURRENCY = 8;
/** Messages read per recheck round (the stream does the rest). */
const RECHECK_BATCH = 2_000;

export interface RecipientState {
  readonly messageId: string;
  readonly address: string;
  status: string;
  reply: string;
}

interface OutcomeEvent {
  type?: unknown;
  messageId?: unknown;
  recipient?: unknown;
  reply?: unknown;
  lastReply?: unknown;
  reason?: unknown;
  attempt?: { reply?: unknown; errorCode?: unknown };
}

interface MessageRead {
  recipients?: {
    address?: unknown;
    status?: unknown;
    lastResponse?: unknown;
    lastErrorCode?: unknown;
    attempts?: { reply?: unknown; errorCode?: unknown }[];
  }[];
}

export class Verdicts {
  readonly #states = new Map<string, RecipientState>();

  add(messageId: string, address: string, status = 'queued', reply = ''): void {
    this.#states.set(`${messageId}\0${address}`, { messageId, address, status, reply });
  }

  #set(messageId: unknown, address: unknown, status: string, reply: string): boolean {
    if (typeof messageId !== 'string' || typeof address !== 'string') return false;
    const state = this.#states.get(`${messageId}\0${address}`);
    if (state === undefined) return false;
    if (FINAL.has(state.status)) {
      // A final status stays; only a reply it arrived without may be filled in.
      if (state.status !== status || state.reply !== '' || reply === '') return false;
      state.reply = reply;
      return true;
    }
    if (state.status === status && (reply === '' || state.reply === reply)) return false;
    state.status = status;
    if (reply !== '') state.reply = reply;
    return true;
  }

  /** One event from the stream; true when it changed something. */
  applyEvent(data: string): boolean {
    let e: OutcomeEvent;
    try {
      e = JSON.parse(data) as OutcomeEvent;
    } catch {
      return false;
    }
    if (typeof e.type !== 'string' || (!FINAL.has(e.type) && e.type !== 'deferred')) return false;
    const reply =
      replyText(e.attempt?.reply) ||
      replyText(e.reply) ||
      replyText(e.lastReply) ||
      clean(e.reason ?? e.attempt?.errorCode, 200);
    return this.#set(e.messageId, e.recipient, e.type, reply);
  }

  /** A message as `GET /api/v1/messages/{id}` shows it; true when it changed something. */
  applyMessage(messageId: string, view: MessageRead): boolean {
    let changed = false;
    for (const r of view.recipients ?? []) {
      if (typeof r.status !== 'string') continue;
      const last = Array.isArray(r.attempts) ? r.attempts.at(-1) : undefined;
      const reply =
        replyText(r.lastResponse) || replyText(last?.reply) || clean(r.lastErrorCode ?? last?.errorCode, 200);
      changed = this.#set(messageId, r.address, clean(r.status, 20), reply) || changed;
    }
    return changed;
  }

  all(): readonly RecipientState[] {
    return [...this.#states.values()];
  }

  counts(): Record<string, number> {
    const counts: Record<string, number> = {};
    for (const s of this.#states.values()) counts[s.status] = (counts[s.status] ?? 0) + 1;
    return counts;
  }

  unfinishedMessages(): string[] {
    return [
      ...new Set(
        this.all()
          .filter((s) => !FINAL.has(s.status))
          .map((s) => s.messageId),
      ),
    ];
  }

  done(): boolean {
    return this.all().every((s) => FINAL.has(s.status));
  }
}

/** `[########------------] 8/20  delivered 7  deferred 3  bounced 1` */
export function progressLine(verdicts: Verdicts, width = 24): string {
  const all = verdicts.all();
  const final = all.filter((s) => FINAL.has(s.status)).length;
  const filled = all.length === 0 ? width : Math.round((final / all.length) * width);
  const counts = verdicts.counts();
  const parts = ['delivered', 'deferred', 'bounced']
    .map((k) => `${k} ${counts[k] ?? 0}`)
    .concat(
      Object.entries(counts)
        .filter(([k]) => !['delivered', 'deferred', 'bounced', 'queued'].includes(k))
        .map(([k, n]) => `${k} ${n}`),
    );
  return `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${final}/${all.length}  ${parts.join('  ')}`;
}

export type WaitEnd = 'done' | 'timeout' | 'interrupted';

export async function waitForVerdicts(
  client: ApiClient,
  verdicts: Verdicts,
  options: { readonly timeoutMs: number; readonly signal: AbortSignal; readonly onChange: () => void },
): Promise<WaitEnd> {
  if (verdicts.done()) return 'done';
  const stop = new AbortController();
  const timer = setTimeout(() => stop.abort('timeout'), options.timeoutMs);
  const onInterrupt = (): void => stop.abort('interrupted');
  options.signal.addEventListener('abort', onInterrupt, { once: true });
  const changed = (): void => {
    options.onChange();
    if (verdicts.done()) stop.abort('done');
  };
  const follow = async (): Promise<void> => {
    try {
      for await (const message of client.events({ types: OUTCOME_TYPES }, { signal: stop.signal })) {
        if (verdicts.applyEvent(message.data)) changed();
      }
    } catch {
      // The stream failed or stalled: the recheck loop below still reaches every verdict.
    }
  };
  const recheck = async (): Promise<void> => {
    while (!stop.signal.aborted) {
      // Verdicts reached before the stream connected are only found by reading the
      // messages: read every unfinished one, a few requests at a time.
      const ids = verdicts.unfinishedMessages().slice(0, RECHECK_BATCH);
      const readOne = async (): Promise<void> => {
        for (let id = ids.shift(); id !== undefined && !stop.signal.aborted; id = ids.shift()) {
          try {
            const view = await client.getJson<MessageRead>(`/api/v1/messages/${encodeURIComponent(id)}`);
            if (verdicts.applyMessage(id, view)) changed();
          } catch {
            // Unreachable for a moment: the next round tries again, the time limit still holds.
          }
        }
      };
      await Promise.all(Array.from({ length: RECHECK_CONCURRENCY }, readOne));
      await delay(RECHECK_MS, undefined, { signal: stop.signal }).catch(() => undefined);
    }
  };
  try {
    await Promise.all([follow(), recheck()]);
  } finally {
    clearTimeout(timer);
    options.signal.removeEventListener('abort', onInterrupt);
  }
  const reason = stop.signal.reason;
  return reason === 'done' || verdicts.done() ? 'done' : reason === 'interrupted' ? 'interrupted' : 'timeout';
}
