import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FieldProblem } from './errors.ts';
import { formatDuration, formatSize, parseDuration, parseSize } from './units.ts';

test('durations parse', () => {
  const cases: [unknown, number][] = [
    ['250ms', 250],
    ['30s', 30_000],
    ['5m', 300_000],
    ['2h', 7_200_000],
    ['5d', 432_000_000],
    [' 7s ', 7000],
    ['1500', 1500],
    [1500, 1500],
  ];
  for (const [input, ms] of cases) assert.equal(parseDuration(input), ms, String(input));
});

test('durations refused', () => {
  for (const input of [
    '5M',
    '5 m',
    '1.5h',
    '-1s',
    's',
    '',
    '5y',
    null,
    true,
    1.5,
    -1,
    '0',
    0,
    '400d',
    '99999999999999999d',
  ]) {
    assert.throws(() => parseDuration(input), FieldProblem, String(input));
  }
  assert.throws(() => parseDuration('2d', { max: 86_400_000 }), /must be at most 1d, got "2d"/);
  assert.equal(parseDuration('0', { min: 0 }), 0);
});

test('sizes parse (binary units)', () => {
  const cases: [unknown, number][] = [
    ['50MB', 50 * 1024 * 1024],
    ['10KB', 10_240],
    ['10kb', 10_240],
    ['10 KiB', 10_240],
    ['1G', 1024 ** 3],
    ['512', 512],
    ['512B', 512],
    [4096, 4096],
  ];
  for (const [input, bytes] of cases) assert.equal(parseSize(input), bytes, String(input));
});

test('sizes refused', () => {
  for (const input of ['50XB', 'MB', '1.5MB', '-1', '0', 0, '2TB', {}, []]) {
    assert.throws(() => parseSize(input), FieldProblem, String(input));
  }
  assert.equal(parseSize('0', { min: 0 }), 0);
});

test('formatting picks the largest exact unit and reads back', () => {
  const durations: [number, string][] = [
    [300_000, '5m'],
    [1500, '1500ms'],
    [86_400_000, '1d'],
    [90_000, '90s'],
    [0, '0ms'],
  ];
  for (const [ms, text] of durations) {
    assert.equal(formatDuration(ms), text);
    assert.equal(parseDuration(text, { min: 0 }), ms);
  }
  const sizes: [number, string][] = [
    [50 * 1024 * 1024, '50MB'],
    [1000, '1000'],
    [2048, '2KB'],
    [1024 ** 3, '1GB'],
  ];
  for (const [bytes, text] of sizes) {
    assert.equal(formatSize(bytes), text);
    assert.equal(parseSize(text), bytes);
  }
});
