/**
 * Counters and histograms cheap enough for the per-message path, exported through a
 * prom-client Registry.
 *
 * prom-client's own `inc(labels)` and `observe(labels, value)` hash and validate the
 * label object on every call (and `observe` allocates a closure); at thousands of
 * messages a second that is a measurable share of the event loop. These keep plain
 * numbers per label set, looked up by a key the caller builds once, and hand
 * prom-client the totals only when the registry is scraped (`get`), in the same
 * shape its own metrics produce. Label values come from our own code (event types,
 * capped categories), never from a peer.
 */
import type { Registry } from 'prom-client';

type Labels = Readonly<Record<string, string>>;

interface MetricValue {
  readonly labels: Readonly<Record<string, string | number>>;
  readonly value: number;
  readonly metricName?: string;
  readonly sharedLabels?: Labels;
  /** Buckets carry `exemplar: null`, as prom-client's do. */
  readonly exemplar?: null;
}

interface MetricObject {
  readonly name: string;
  readonly help: string;
  readonly type: 'counter' | 'histogram';
  readonly values: MetricValue[];
  readonly aggregator: 'sum';
}

/** A counter over label sets: `add(key, labels)` counts one (labels are kept from the first call per key). */
export class TallyCounter {
  readonly name: string;
  readonly help: string;
  readonly #counts = new Map<string, { labels: Labels; value: number }>();

  constructor(options: { name: string; help: string; registry: Registry }) {
    this.name = options.name;
    this.help = options.help;
    options.registry.registerMetric(this as never);
  }

  add(key: string, labels: Labels, amount = 1): void {
    const entry = this.#counts.get(key);
    if (entry === undefined) this.#counts.set(key, { labels, value: amount });
    else entry.value += amount;
  }

  async get(): Promise<MetricObject> {
    const values = [...this.#counts.values()].map((e) => ({ labels: e.labels, value: e.value }));
    return { name: this.name, help: this.help, type: 'counter', values, aggregator: 'sum' };
  }

  reset(): void {
    this.#counts.clear();
  }
}

interface Buckets {
  readonly labels: Labels;
  /** Observations per bucket (not cumulative); the last slot is above every bound. */
  readonly counts: number[];
  sum: number;
  count: number;
}

/** A histogram over label sets with fixed upper bounds (seconds, ascending). */
export class TallyHistogram {
  readonly name: string;
  readonly help: string;
  readonly #bounds: readonly number[];
  readonly #series = new Map<string, Buckets>();
  readonly #unlabelled: boolean;

  /** `unlabelled`: the series without labels exists (at zero) from the start, as prom-client's does. */
  constructor(options: {
    name: string;
    help: string;
    buckets: readonly number[];
    registry: Registry;
    unlabelled?: boolean;
  }) {
    this.name = options.name;
    this.help = options.help;
    this.#bounds = [...options.buckets].sort((a, b) => a - b);
    this.#unlabelled = options.unlabelled === true;
    if (this.#unlabelled) this.#seriesFor('', {});
    options.registry.registerMetric(this as never);
  }

  #seriesFor(key: string, labels: Labels): Buckets {
    let series = this.#series.get(key);
    if (series === undefined) {
      series = { labels, counts: new Array<number>(this.#bounds.length + 1).fill(0), sum: 0, count: 0 };
      this.#series.set(key, series);
    }
    return series;
  }

  observe(key: string, labels: Labels, value: number): void {
    const series = this.#seriesFor(key, labels);
    const bounds = this.#bounds;
    let i = 0;
    while (i < bounds.length && value > bounds[i]!) i++;
    series.counts[i]! += 1;
    series.sum += value;
    series.count += 1;
  }

  /** The exposition form prom-client's registry prints (`le` first, then the series labels). */
  async getForPromString(): Promise<MetricObject> {
    const values: MetricValue[] = [];
    const bucket = `${this.name}_bucket`;
    for (const s of this.#series.values()) {
      let cumulative = 0;
      for (let i = 0; i < this.#bounds.length; i++) {
        cumulative += s.counts[i]!;
        const le = this.#bounds[i]!;
        values.push({
          labels: { le },
          value: cumulative,
          metricName: bucket,
          sharedLabels: s.labels,
          exemplar: null,
        });
      }
      values.push({
        labels: { le: '+Inf' },
        value: s.count,
        metricName: bucket,
        sharedLabels: s.labels,
        exemplar: null,
      });
      values.push({ labels: {}, value: s.sum, metricName: `${this.name}_sum`, sharedLabels: s.labels });
      values.push({ labels: {}, value: s.count, metricName: `${this.name}_count`, sharedLabels: s.labels });
    }
    return { name: this.name, help: this.help, type: 'histogram', values, aggregator: 'sum' };
  }

  /** The same values with every label on each sample (prom-client's JSON form). */
  async get(): Promise<MetricObject> {
    const data = await this.getForPromString();
    const values = data.values.map((v) => ({
      value: v.value,
      ...(v.metricName === undefined ? {} : { metricName: v.metricName }),
      ...(v.exemplar === undefined ? {} : { exemplar: v.exemplar }),
      labels: { ...v.labels, ...v.sharedLabels },
    }));
    return { ...data, values };
  }

  reset(): void {
    this.#series.clear();
    if (this.#unlabelled) this.#seriesFor('', {});
  }
}
