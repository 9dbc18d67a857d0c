/**
 * The feedback stage's services, built, connected to the event bus and started as one:
 * the feedback store, the suppression list, the webhook outbox, the event log file
 * and the metrics registry.
 *
 * In: the `feedback` config, the data dir, the spool's `eventsSince`, a `record`
 * function that stores events durably and publishes them (used for
 * `suppression-added`), the bus's `subscribe`, and runtime figures for the metrics
 * gauges. Out: the services for the HTTP API and the SMTP RCPT check, and `stop()`.
 *
 * Every published event is counted, appended to the log file, and wakes the webhook
 * loops; a hard `bounced` event suppresses its recipient. Listener work is
 * synchronous or fire-and-forget with its failures logged, so the publisher (the
 * delivery or ingress path) never waits or breaks. Expired suppressions are purged
 * at start and hourly. `start` rejects (closing what it opened) when the store or
 * the log file cannot be opened. No untrusted input of its own.
 */
import type { FeedbackConfig } from '../config/types.ts';
import type { LifecycleEvent } from '../contracts/events.ts';
import { EventLog } from './event-log.ts';
import { Metrics, type MetricsSnapshot } from './metrics.ts';
import { SqliteFeedbackStore } from './store/sqlite-feedback-store.ts';
import { SuppressionList } from './suppression.ts';
import { type EventsSince, WebhookDispatcher } from './webhooks/dispatcher.ts';

type Log = (
  level: 'debug' | 'info' | 'warn' | 'error',
  message: string,
  fields?: Record<string, unknown>,
) => void;

const PURGE_INTERVAL_MS = 3_600_000;

export interface FeedbackServicesOptions {
  readonly config: FeedbackConfig;
  readonly dataDir: string;
  readonly eventsSince: EventsSince;
  /** Stores events durably (the spool) and then publishes them on the bus. */
  readonly record: (events: readonly LifecycleEvent[]) => Promise<void>;
  readonly subscribe: (listener: (event: LifecycleEvent) => void) => () => void;
  /** Runtime figures for the gauges; the suppression list size is added here. */
  readonly stats?: () => MetricsSnapshot | Promise<MetricsSnapshot>;
  readonly log: Log;
  /** Export Node.js process metrics too (off in tests). */
  readonly processMetrics?: boolean;
}

export interface FeedbackServices {
  readonly suppression: SuppressionList;
  readonly webhooks: WebhookDispatcher;
  readonly metrics: Metrics;
  readonly eventLog?: EventLog;
  /** Unsubscribes, waits for bounce handling in progress, stops the outbox, closes the log and the store. */
  stop(): Promise<void>;
}

export async function startFeedbackServices(options: FeedbackServicesOptions): Promise<FeedbackServices> {
  const { config, log } = options;
  const store = new SqliteFeedbackStore({ dataDir: options.dataDir });
  await store.open();
  let eventLog: EventLog | undefined;
  try {
    const suppression = new SuppressionList({
      store,
      config: config.suppression,
      onAdded: (event) => options.record([event]),
      onError: (error) => log('warn', 'suppression list', { error: String(error) }),
    });
    await suppression.load();
    await suppression.purgeExpired();
    if (config.eventLog.enabled) {
      eventLog = new EventLog({
        ...config.eventLog,
        onError: (error) => log('error', 'event log write failed', { error: String(error) }),
      });
      await eventLog.open();
    }
    const metrics = new Metrics({
      stats: async () => ({ ...(await options.stats?.()), suppressions: suppression.size }),
      ...(options.processMetrics ? { processMetrics: true } : {}),
    });
    const webhooks = new WebhookDispatcher({
      webhooks: config.webhooks,
      store,
      eventsSince: options.eventsSince,
      log,
    });
    await webhooks.start();

    const pending = new Set<Promise<unknown>>();
    const track = (work: Promise<unknown>, what: string): void => {
      const settled = work.then(undefined, (error) => log('error', what, { error: String(error) }));
      pending.add(settled);
      void settled.finally(() => pending.delete(settled));
    };
    const unsubscribe = options.subscribe((event) => {
      metrics.observeEvent(event);
      eventLog?.append(event);
      webhooks.notify();
      if (event.type === 'bounced')
        track(suppression.onBounced(event), 'could not suppress a hard-bounced address');
    });
    const purge = setInterval(
      () => track(suppression.purgeExpired(), 'suppression purge failed'),
      PURGE_INTERVAL_MS,
    );
    purge.unref();

    let stopping: Promise<void> | undefined;
    return {
      suppression,
      webhooks,
      metrics,
      ...(eventLog ? { eventLog } : {}),
      stop() {
        stopping ??= (async () => {
          unsubscribe();
          clearInterval(purge);
          await Promise.all(pending);
          await webhooks.stop();
          await eventLog?.close();
          await store.close();
        })();
        return stopping;
      },
    };
  } catch (error) {
    await eventLog?.close().catch(() => {});
    await store.close();
    throw error;
  }
}
