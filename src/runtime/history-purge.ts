/**
 * History retention: deletes finished messages (with their recipients and
 * attempts) and stored events older than `retentionMs` from the spool, so its
 * size follows the traffic of the retention window instead of growing forever.
 *
 * In: the spool, the retention (0: keep everything, nothing runs). Out: a purge
 * a minute after start and then every `everyMs`, in slices of `batch` messages
 * examined (old pending mail costs a scan, never a long call) with a pause
 * between them, so commits waiting in the spool's queue share its transactions
 * and are never held up for long. Pending mail is never touched (the spool's
 * contract), nor are events a webhook has yet to send (it retries the same event
 * until its receiver takes it), unless they are older than `holdMs`: then they go
 * too and `onHeldEventsDropped` tells the webhooks to skip past them (a receiver
 * that stays down must not fill the disk). A failed batch is logged and retried at
 * the next run; it never throws into the caller.
 */
import type { PurgeResult, Spool } from '../contracts/spool.ts';
import { queueIdFloor } from './ids.ts';

export interface HistoryPurgeOptions {
  readonly spool: Spool;
  readonly retentionMs: number;
  readonly log: (level: 'info' | 'warn', message: string, fields?: Record<string, unknown>) => void;
  readonly now?: () => number;
  /** Between runs (ms); default 10 minutes. */
  readonly everyMs?: number;
  /** First run after start (ms); default 1 minute. */
  readonly firstAfterMs?: number;
  /** Messages (and events) per spool call; default 500. */
  readonly batch?: number;
  /** The last event every consumer that must see each event has taken (webhooks); later ones are kept... */
  readonly keepEventsAfter?: () => number | undefined;
  /** ...for at most this long after they were stored (ms; 0 or absent: until taken). */
  readonly holdMs?: number;
  /** Held events were deleted all the same, up to this seq: the consumers behind it must skip ahead. */
  readonly onHeldEventsDropped?: (throughSeq: number) => void;
}

export interface HistoryPurge {
  /** One complete run now (every batch until nothing old is left); resolves with the totals. */
  runOnce(): Promise<PurgeResult>;
  /** Stops the timer and waits for a run under way. */
  stop(): Promise<void>;
}

const PAUSE_BETWEEN_BATCHES_MS = 20;

export function startHistoryPurge(options: HistoryPurgeOptions): HistoryPurge {
  const now = options.now ?? Date.now;
  const batch = options.batch ?? 500;
  let stopped = false;
  let running: Promise<PurgeResult> | undefined;

  const run = async (): Promise<PurgeResult> => {
    if (options.retentionMs <= 0) return { messages: 0, events: 0 };
    let messages = 0;
    let events = 0;
    const before = now() - options.retentionMs;
    const beforeId = queueIdFloor(before);
    const keep = options.keepEventsAfter?.();
    const holdMs = options.holdMs ?? 0;
    let afterId: string | undefined;
    while (!stopped) {
      const result = await options.spool.purge({
        before,
        beforeId,
        limit: batch,
        ...(afterId ? { afterId } : {}),
        ...(keep !== undefined ? { keepEventsAfter: keep } : {}),
        ...(keep !== undefined && holdMs > 0 ? { dropHeldBefore: now() - holdMs } : {}),
      });
      messages += result.messages;
      events += result.events;
      if (keep !== undefined && result.lastEventSeq !== undefined && result.lastEventSeq > keep)
        options.onHeldEventsDropped?.(result.lastEventSeq);
      // Messages continue from where the scan stopped; once they are done, afterId
      // stays put and further calls only take events.
      if (result.scannedTo !== undefined) afterId = result.scannedTo;
      else if (result.events < batch) break;
      await new Promise((resolve) => setTimeout(resolve, PAUSE_BETWEEN_BATCHES_MS));
    }
    if (messages > 0 || events > 0)
      options.log('info', 'purged old history from the spool', {
        messages,
        events,
        before: new Date(before),
      });
    return { messages, events };
  };

  const runOnce = (): Promise<PurgeResult> => {
    running ??= run().finally(() => {
      running = undefined;
    });
    return running;
  };

  let timer: NodeJS.Timeout | undefined;
  const schedule = (delay: number): void => {
    if (stopped || options.retentionMs <= 0) return;
    timer = setTimeout(() => {
      runOnce().then(
        () => schedule(options.everyMs ?? 600_000),
        (error: unknown) => {
          options.log('warn', 'history purge failed; retried at the next run', { error: String(error) });
          schedule(options.everyMs ?? 600_000);
        },
      );
    }, delay);
    timer.unref();
  };
  schedule(options.firstAfterMs ?? 60_000);

  return {
    runOnce,
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await running?.catch(() => undefined);
    },
  };
}
