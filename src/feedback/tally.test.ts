/**
 * The tally metrics print exactly what prom-client's own Counter and Histogram print
 * for the same observations, so scrapers and dashboards see no difference.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Counter, Histogram, Registry } from 'prom-client';
import { TallyCounter, TallyHistogram } from './tally.ts';

const BUCKETS = [0.001, 0.01, 0.1, 1, 10];
const VALUES = [0, 0.0005, 0.001, 0.004, 0.2, 0.2, 3, 42, 1e-9];

describe('tally metrics', () => {
  it('print the same histogram as prom-client, labelled and not', async () => {
    const ours = new Registry();
    const theirs = new Registry();
    const plain = new TallyHistogram({
      name: 'h_plain',
      help: 'x',
      buckets: BUCKETS,
      registry: ours,
      unlabelled: true,
    });
    const byOutcome = new TallyHistogram({ name: 'h_by', help: 'y', buckets: BUCKETS, registry: ours });
    const refPlain = new Histogram({ name: 'h_plain', help: 'x', buckets: BUCKETS, registers: [theirs] });
    const refBy = new Histogram({
      name: 'h_by',
      help: 'y',
      buckets: BUCKETS,
      labelNames: ['outcome'],
      registers: [theirs],
    });
    assert.equal(await ours.metrics(), await theirs.metrics(), 'before any observation');
    for (const [i, v] of VALUES.entries()) {
      const outcome = i % 2 === 0 ? 'delivered' : 'deferred';
      plain.observe('', {}, v);
      refPlain.observe(v);
      byOutcome.observe(outcome, { outcome }, v);
      refBy.observe({ outcome }, v);
    }
    assert.equal(await ours.metrics(), await theirs.metrics());
    // As JSON (prom-client also sets `exemplar: undefined`, which JSON leaves out).
    assert.equal(
      JSON.stringify(await ours.getMetricsAsJSON()),
      JSON.stringify(await theirs.getMetricsAsJSON()),
    );
  });

  it('print the same counter as prom-client', async () => {
    const ours = new Registry();
    const theirs = new Registry();
    const tally = new TallyCounter({ name: 'c_total', help: 'z', registry: ours });
    const ref = new Counter({
      name: 'c_total',
      help: 'z',
      labelNames: ['type', 'category'],
      registers: [theirs],
    });
    assert.equal(await ours.metrics(), await theirs.metrics(), 'before any count');
    for (const [type, category] of [
      ['a', ''],
      ['b', 'x'],
      ['a', ''],
      ['a', 'y'],
    ] as const) {
      tally.add(`${type}\0${category}`, { type, category });
      ref.inc({ type, category });
    }
    assert.equal(await ours.metrics(), await theirs.metrics());
    ours.resetMetrics();
    theirs.resetMetrics();
    assert.equal(await ours.metrics(), await theirs.metrics(), 'after a reset');
  });
});
