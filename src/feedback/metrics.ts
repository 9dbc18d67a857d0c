/**
 * Prometheus metrics for one server instance (prom-client, own Registry: never the
 * process-global default one, so two servers or two tests never share counters).
 *
 * In: lifecycle events (`observeEvent`, counted by type and classification category;
 * events carrying an attempt also feed the attempt-duration histogram, once per
 * recipient), accept latencies from the ingress (`observeAcceptLatency`: end of DATA
 * to the 250 reply), and a stats function read at each scrape for the gauges (queue
 * by status, deliveries in flight, SMTP connections, suppression list size). Out:
 * the text exposition (`render`). A failing stats function rejects `render` (the
 * route answers 500); observing never throws. Categories are capped at 100 distinct
 * values (then `other`) so a misconfiguration cannot explode label cardinality.
 * No untrusted input.
 */
import { collectDefaultMetrics, Gauge, Registry } from 'prom-client';
import type { LifecycleEvent } from '../contracts/events.ts';
import type { RecipientStatus } from '../contracts/status.ts';
import { TallyCounter, TallyHistogram } from './tally.ts';

export interface MetricsSnapshot {
  /** Recipients by status (the spool's counters). */
  readonly queue?: Partial<Readonly<Record<RecipientStatus, number>>>;
  readonly inFlight?: number;
  readonly connections?: number;
  readonly suppressions?: number;
}

export interface MetricsOptions {
  readonly stats?: () => MetricsSnapshot | Promise<MetricsSnapshot>;
  /** Also export Node.js process metrics (CPU, memory, event loop lag) on this registry. */
  readonly processMetrics?: boolean;
}

const MAX_CATEGORIES = 100;

export class Metrics {
  readonly registry = new Registry();
  readonly #stats: MetricsOptions['stats'];
  readonly #categories = new Set<string>();
  readonly #events: TallyCounter;
  readonly #acceptLatency: TallyHistogram;
  readonly #attemptDuration: TallyHistogram;
  readonly #queue: Gauge<'status'>;
  readonly #inFlight: Gauge;
  readonly #connections: Gauge;
  readonly #suppressions: Gauge;

  constructor(options: MetricsOptions = {}) {
    this.#stats = options.stats;
    const registers = [this.registry];
    // The three per-message metrics count in plain numbers (tally.ts); prom-client
    // reads the totals at each scrape.
    this.#events = new TallyCounter({
      name: 'mxpress_events_total',
      help: 'Lifecycle events by type and failure category ("" when unclassified)',
      registry: this.registry,
    });
    this.#acceptLatency = new TallyHistogram({
      name: 'mxpress_accept_latency_seconds',
      help: 'End of DATA to the 250 reply (durable commit included)',
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registry: this.registry,
      unlabelled: true,
    });
    this.#attemptDuration = new TallyHistogram({
      name: 'mxpress_delivery_attempt_duration_seconds',
      help: 'Delivery attempt duration per recipient, by outcome',
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300],
      registry: this.registry,
    });
    this.#queue = new Gauge({
      name: 'mxpress_queue_recipients',
      help: 'Recipients in the spool by status',
      labelNames: ['status'],
      registers,
    });
    this.#inFlight = new Gauge({
      name: 'mxpress_delivery_in_flight',
      help: 'Recipients being delivered right now',
      registers,
    });
    this.#connections = new Gauge({
      name: 'mxpress_smtp_connections',
      help: 'Open inbound SMTP connections',
      registers,
    });
    this.#suppressions = new Gauge({
      name: 'mxpress_suppressions',
      help: 'Entries on the suppression list',
      registers,
    });
    if (options.processMetrics) collectDefaultMetrics({ register: this.registry, prefix: 'mxpress_' });
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  observeEvent(event: LifecycleEvent): void {
    const classification = 'classification' in event ? event.classification : undefined;
    const category = this.#category(classification?.category);
    this.#events.add(`${event.type}\0${category}`, { type: event.type, category });
    const attempt = 'attempt' in event ? event.attempt : undefined;
    if (attempt && Number.isFinite(attempt.durationMs) && attempt.durationMs >= 0) {
      const outcome = attempt.outcome;
      this.#attemptDuration.observe(outcome, { outcome }, attempt.durationMs / 1000);
    }
  }

  observeAcceptLatency(ms: number): void {
    if (Number.isFinite(ms) && ms >= 0) this.#acceptLatency.observe('', {}, ms / 1000);
  }

  /** Reads the stats into the gauges, then renders every metric of this instance. */
  async render(): Promise<string> {
    if (this.#stats) {
      const snapshot = await this.#stats();
      this.#queue.reset();
      for (const [status, count] of Object.entries(snapshot.queue ?? {})) {
        if (typeof count === 'number') this.#queue.set({ status }, count);
      }
      setIfKnown(this.#inFlight, snapshot.inFlight);
      setIfKnown(this.#connections, snapshot.connections);
      setIfKnown(this.#suppressions, snapshot.suppressions);
    }
    return this.registry.metrics();
  }

  #category(category: string | undefined): string {
    if (category === undefined) return '';
    if (this.#categories.has(category)) return category;
    if (this.#categories.size >= MAX_CATEGORIES) return 'other';
    this.#categories.add(category);
    return category;
  }
}

function setIfKnown(gauge: Gauge, value: number | undefined): void {
  if (value === undefined) gauge.reset();
  else gauge.set(value);
}
