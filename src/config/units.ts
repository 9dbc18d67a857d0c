/**
 * Durations and sizes as operators write them, and back.
 *
 * Durations: `250ms`, `30s`, `5m`, `2h`, `5d` or a plain number of milliseconds.
 * Sizes: `10KB`, `50MB`, `1GB` (binary: 1KB = 1024 bytes; `KiB`/`K` also accepted)
 * or a plain number of bytes. Parsers throw `FieldProblem` with the value quoted;
 * they read operator input (config file, environment, flags) and accept nothing else.
 */
import { describeValue, FieldProblem } from './errors.ts';

const DURATION_UNITS: Readonly<Record<string, number>> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
};

const SIZE_UNITS: Readonly<Record<string, number>> = {
  b: 1,
  k: 1024,
  kb: 1024,
  kib: 1024,
  m: 1024 ** 2,
  mb: 1024 ** 2,
  mib: 1024 ** 2,
  g: 1024 ** 3,
  gb: 1024 ** 3,
  gib: 1024 ** 3,
};

const DAY = 86_400_000;

export interface RangeOptions {
  /** Smallest accepted value (default 1: zero is refused). */
  readonly min?: number;
  /** Largest accepted value. */
  readonly max?: number;
}

export function parseDuration(value: unknown, options: RangeOptions = {}): number {
  const max = options.max ?? 365 * DAY;
  const expected = 'expected a duration like 250ms, 30s, 5m, 2h, 5d or a number of milliseconds';
  const ms = parseWithUnits(value, DURATION_UNITS, /^(\d{1,15})(ms|s|m|h|d)?$/, false, expected);
  checkRange(ms, value, options.min ?? 1, max, formatDuration);
  return ms;
}

export function parseSize(value: unknown, options: RangeOptions = {}): number {
  const max = options.max ?? 1024 ** 4;
  const expected = 'expected a size like 10KB, 50MB, 1GB or a number of bytes';
  const bytes = parseWithUnits(value, SIZE_UNITS, /^(\d{1,15})\s*([a-z]{1,3})?$/i, true, expected);
  checkRange(bytes, value, options.min ?? 1, max, formatSize);
  return bytes;
}

function parseWithUnits(
  value: unknown,
  units: Readonly<Record<string, number>>,
  pattern: RegExp,
  caseInsensitive: boolean,
  expected: string,
): number {
  if (typeof value === 'number') {
    if (Number.isSafeInteger(value) && value >= 0) return value;
    throw new FieldProblem(`${expected}, got ${describeValue(value)}`);
  }
  if (typeof value !== 'string') throw new FieldProblem(`${expected}, got ${describeValue(value)}`);
  const match = pattern.exec(value.trim());
  const unitText = match?.[2] === undefined ? undefined : caseInsensitive ? match[2].toLowerCase() : match[2];
  const multiplier = unitText === undefined ? 1 : units[unitText];
  if (match === null || multiplier === undefined) {
    throw new FieldProblem(`${expected}, got ${describeValue(value)}`);
  }
  const result = Number(match[1]) * multiplier;
  if (!Number.isSafeInteger(result)) throw new FieldProblem(`${describeValue(value)} is too large`);
  return result;
}

function checkRange(
  n: number,
  value: unknown,
  min: number,
  max: number,
  format: (n: number) => string,
): void {
  if (n < min) {
    throw new FieldProblem(
      min === 1
        ? `must be more than zero, got ${describeValue(value)}`
        : `must be at least ${format(min)}, got ${describeValue(value)}`,
    );
  }
  if (n > max) throw new FieldProblem(`must be at most ${format(max)}, got ${describeValue(value)}`);
}

/** The largest unit that expresses `ms` exactly: 300000 -> `5m`, 1500 -> `1500ms`. */
export function formatDuration(ms: number): string {
  for (const unit of ['d', 'h', 'm', 's'] as const) {
    const size = DURATION_UNITS[unit]!;
    if (ms !== 0 && ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
}

/** The largest binary unit that expresses `bytes` exactly: 52428800 -> `50MB`, 1000 -> `1000`. */
export function formatSize(bytes: number): string {
  for (const [unit, size] of [
    ['GB', 1024 ** 3],
    ['MB', 1024 ** 2],
    ['KB', 1024],
  ] as const) {
    if (bytes !== 0 && bytes % size === 0) return `${bytes / size}${unit}`;
  }
  return String(bytes);
}
