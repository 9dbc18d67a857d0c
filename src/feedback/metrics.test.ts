/**
 * Tests for the metrics registry: event counters by type and category, the attempt
 * and accept-latency histograms, gauges read from the stats function at each
 * scrape, and instances that share nothing (with each other or the global registry).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { register as globalRegistry } from 'prom-client';
import type { BouncedEvent, DeliveredEvent } from '../contracts/events.ts';
import { Metrics } from './metrics.ts';

function delivered(durationMs: number): DeliveredEvent {
  return {
    type: 'delivered',
    seq: 1,
    at: 0,
    messageId: 'M',
    recipient: 'a@example.com',
    attempt: { at: 0, durationMs, route: 'direct', outcome: 'delivered' },
  };
}

function bounced(category?: string): BouncedEvent {
  return {
    type: 'bounced',
    seq: 2,
    at: 0,
    messageId: 'M',
    recipient: 'b@example.com',
    reply: { code: 550, enhanced: '5.1.1', text: 'no' },
    ...(category ? { classification: { severity: 'hard', category } } : {}),
  };
}

/** The value of one sample line, e.g. `mxpress_events_total{type="bounced",category="x"}`. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe('Metrics', () => {
  it('counts events by type and category and observes attempt durations', async () => {
    const m = new Metrics();
    m.observeEvent(delivered(120));
    m.observeEvent(delivered(3000));
    m.observeEvent(bounced('bad-mailbox'));
    m.observeEvent(bounced('bad-mailbox'));
    m.observeEvent(bounced());
    const text = await m.render();
    assert.equal(sample(text, 'mxpress_events_total{type="delivered",category=""}'), 2);
    assert.equal(sample(text, 'mxpress_events_total{type="bounced",category="bad-mailbox"}'), 2);
    assert.equal(sample(text, 'mxpress_events_total{type="bounced",category=""}'), 1);
    const h = 'mxpress_delivery_attempt_duration_seconds';
    assert.equal(sample(text, `${h}_bucket{le="0.25",outcome="delivered"}`), 1);
    assert.equal(sample(text, `${h}_bucket{le="5",outcome="delivered"}`), 2);
    assert.equal(sample(text, `${h}_count{outcome="delivered"}`), 2);
    assert.equal(sample(text, `${h}_sum{outcome="delivered"}`), 3.12);
    assert.match(m.contentType, /^text\/plain; version=0\.0\.4/);
  });

  it('caps distinct categories at 100', async () => {
    const m = new Metrics();
    for (let i = 0; i < 105; i++) m.observeEvent(bounced(`c${i}`));
    const text = await m.render();
    assert.equal(sample(text, 'mxpress_events_total{type="bounced",category="c99"}'), 1);
    assert.equal(sample(text, 'mxpress_events_total{type="bounced",category="c100"}'), undefined);
    assert.equal(sample(text, 'mxpress_events_total{type="bounced",category="other"}'), 5);
  });

  it('observes accept latency in seconds and ignores nonsense', async () => {
    const m = new Metrics();
    m.observeAcceptLatency(3);
    m.observeAcceptLatency(40);
    m.observeAcceptLatency(-1);
    m.observeAcceptLatency(Number.NaN);
    const text = await m.render();
    assert.equal(sample(text, 'mxpress_accept_latency_seconds_bucket{le="0.005"}'), 1);
    assert.equal(sample(text, 'mxpress_accept_latency_seconds_bucket{le="0.05"}'), 2);
    assert.equal(sample(text, 'mxpress_accept_latency_seconds_count'), 2);
  });

  it('fills gauges from the stats function at each scrape', async () => {
    let round = 0;
    const m = new Metrics({
      stats: async () => {
        round++;
        return round === 1
          ? { queue: { queued: 5, deferred: 2 }, inFlight: 3, connections: 7, suppressions: 11 }
          : { queue: { queued: 1 }, inFlight: 0, connections: 1, suppressions: 12 };
      },
    });
    const first = await m.render();
    assert.equal(sample(first, 'mxpress_queue_recipients{status="queued"}'), 5);
    assert.equal(sample(first, 'mxpress_queue_recipients{status="deferred"}'), 2);
    assert.equal(sample(first, 'mxpress_delivery_in_flight'), 3);
    assert.equal(sample(first, 'mxpress_smtp_connections'), 7);
    assert.equal(sample(first, 'mxpress_suppressions'), 11);
    const second = await m.render();
    assert.equal(sample(second, 'mxpress_queue_recipients{status="queued"}'), 1);
    assert.equal(sample(second, 'mxpress_queue_recipients{status="deferred"}'), undefined, 'no stale status');
    assert.equal(sample(second, 'mxpress_suppressions'), 12);
    await assert.rejects(
      new Metrics({ stats: () => Promise.reject(new Error('spool closed')) }).render(),
      /spool closed/,
    );
  });

  it('keeps instances apart and off the global registry', async () => {
    const a = new Metrics({ processMetrics: true });
    const b = new Metrics();
    a.observeEvent(delivered(1));
    assert.equal(sample(await b.render(), 'mxpress_events_total{type="delivered",category=""}'), undefined);
    assert.equal(sample(await a.render(), 'mxpress_events_total{type="delivered",category=""}'), 1);
    assert.match(await a.render(), /^mxpress_process_cpu_seconds_total /m);
    assert.doesNotMatch(await globalRegistry.metrics(), /mxpress_/);
  });
});
