/**
 * The hand-written SVG chart: structure, scaling and escaping.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { escapeXml, niceScale, renderChart } from './svg-chart.ts';

test('nice axis steps are 1, 2 or 5 times a power of ten and cover the maximum', () => {
  assert.deepEqual(niceScale(1234), { max: 1500, step: 500 });
  assert.deepEqual(niceScale(10), { max: 10, step: 2 });
  assert.deepEqual(niceScale(0), { max: 1, step: 0.2 });
  for (const max of [0.3, 7, 99, 101, 12_345, 999_999]) {
    const { max: top, step } = niceScale(max);
    assert.ok(top >= max && top - step < max, `${max} -> ${top}/${step}`);
    const mantissa = step / 10 ** Math.floor(Math.log10(step));
    assert.ok(
      [1, 2, 5].some((m) => Math.abs(mantissa - m) < 1e-9),
      `step ${step}`,
    );
  }
});

test('one polyline per series with one point per second, scaled into the plot', () => {
  const svg = renderChart({
    title: 'Throughput <test> & "more"',
    series: [
      { name: 'accepted/s', color: '#1f77b4', values: [0, 100, 200, 50] },
      { name: 'delivered/s', color: '#d62728', values: [0, 80, 190] },
    ],
    spans: [{ label: 'accept', from: 0.5, to: 2.5 }],
  });
  assert.match(svg, /^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/);
  assert.ok(svg.trimEnd().endsWith('</svg>'));
  const polylines = [...svg.matchAll(/<polyline [^>]*points="([^"]*)"/g)].map((m) => m[1]!.split(' '));
  assert.equal(polylines.length, 2);
  assert.equal(polylines[0]!.length, 4);
  assert.equal(polylines[1]!.length, 3);
  // Default plot: top 56, height 400 - 56 - 48 = 296; the y axis tops out at 200, so 200 sits at y = 56.
  const ys = polylines[0]!.map((p) => Number(p.split(',')[1]));
  assert.deepEqual(ys, [352, 204, 56, 278]);
  const xs = polylines[0]!.map((p) => Number(p.split(',')[0]));
  assert.ok(xs.every((x, i) => i === 0 || x > xs[i - 1]!));
  assert.match(svg, /Throughput &#60;test&#62; &#38; &#34;more&#34;/);
  assert.match(svg, />accept</);
  assert.match(svg, />delivered\/s</);
});

test('markup in labels is escaped', () => {
  assert.equal(escapeXml(`<a href='x'>&</a>`), '&#60;a href=&#39;x&#39;&#62;&#38;&#60;/a&#62;');
  const svg = renderChart({ title: '</svg><script>', series: [] });
  assert.doesNotMatch(svg, /<script>/);
});
