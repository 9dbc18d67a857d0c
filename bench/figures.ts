/**
 * Small pure helpers for benchmark figures: percentiles, per-second series and
 * rates. No I/O; never throws (empty input gives zeros / empty series).
 */

export interface Percentiles {
  readonly count: number;
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly max: number;
  readonly mean: number;
}

/** Nearest-rank percentiles (p in 0..100) of unsorted values. */
export function percentiles(values: readonly number[]): Percentiles {
  if (values.length === 0) return { count: 0, p50: 0, p90: 0, p99: 0, max: 0, mean: 0 };
  const sorted = Float64Array.from(values).sort();
  const rank = (p: number): number => sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)]!;
  let sum = 0;
  for (const v of sorted) sum += v;
  return {
    count: sorted.length,
    p50: rank(50),
    p90: rank(90),
    p99: rank(99),
    max: sorted[sorted.length - 1]!,
    mean: sum / sorted.length,
  };
}

/** Events per whole second since `origin` (all times in ms): index i counts events in [i s, i+1 s). */
export function perSecond(times: readonly number[], origin: number, seconds?: number): number[] {
  let last = 0;
  for (const t of times) last = Math.max(last, t - origin);
  const length = seconds ?? Math.floor(last / 1000) + 1;
  const buckets = new Array<number>(Math.max(0, length)).fill(0);
  if (times.length === 0) return seconds === undefined ? [] : buckets;
  for (const t of times) {
    const i = Math.floor((t - origin) / 1000);
    if (i >= 0 && i < buckets.length) buckets[i]! += 1;
  }
  return buckets;
}

/**
 * Per-second increments of a monotonically growing counter observed at times
 * (e.g. messages counted at a sink): the counter's value at each second's end
 * minus its value at the start (the last observation at or before each edge).
 */
export function counterPerSecond(
  observations: readonly { readonly t: number; readonly value: number }[],
  origin: number,
  seconds: number,
): number[] {
  const out: number[] = [];
  let j = 0;
  let current = 0;
  for (const o of observations) if (o.t < origin) current = o.value;
  while (j < observations.length && observations[j]!.t < origin) j++;
  for (let i = 0; i < seconds; i++) {
    const edge = origin + (i + 1) * 1000;
    const before = current;
    while (j < observations.length && observations[j]!.t < edge) current = observations[j++]!.value;
    out.push(Math.max(0, current - before));
  }
  return out;
}

/** count / seconds, 0 when no time passed. */
export function rate(count: number, ms: number): number {
  return ms > 0 ? count / (ms / 1000) : 0;
}

/**
 * CPU milliseconds a process spent per message, from its mean CPU share over a
 * window and the messages per second over the same window (0 when none passed).
 */
export function cpuMsPerMessage(cpuPercent: number, perSecond: number): number {
  return perSecond > 0 ? round((cpuPercent * 10) / perSecond, 3) : 0;
}

/** How many times something happening `ratePerSecond` happened per message at `perSecond` messages a second. */
export function perMessage(ratePerSecond: number, perSecond: number): number {
  return perSecond > 0 ? round(ratePerSecond / perSecond, 2) : 0;
}

export function round(value: number, digits = 1): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

export function mib(bytes: number): number {
  return round(bytes / (1024 * 1024), 1);
}
