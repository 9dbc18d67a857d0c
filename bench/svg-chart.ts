/**
 * Writes a line chart of throughput over time as standalone SVG text.
 *
 * In: series of per-second values (accepted/s, delivered/s, ...) on one time
 * axis, optional labelled spans (the scenarios) to shade. Out: an SVG 1.1
 * document string with axes, ticks, a legend and one polyline per series.
 * Pure: no I/O. Labels are escaped, so any text is safe to pass.
 */

export interface ChartSeries {
  readonly name: string;
  readonly color: string;
  /** One value per second from the chart's start. */
  readonly values: readonly number[];
}

export interface ChartSpan {
  readonly label: string;
  /** Seconds from the chart's start. */
  readonly from: number;
  readonly to: number;
}

export interface ChartOptions {
  readonly title: string;
  readonly series: readonly ChartSeries[];
  readonly spans?: readonly ChartSpan[];
  readonly width?: number;
  readonly height?: number;
  readonly yLabel?: string;
}

export function escapeXml(text: string): string {
  return text.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** A "nice" axis maximum and step (1, 2 or 5 times a power of ten) for about `ticks` ticks. */
export function niceScale(max: number, ticks = 5): { max: number; step: number } {
  if (!(max > 0)) return { max: 1, step: 0.2 };
  const raw = max / ticks;
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw) ?? 10 * power;
  return { max: Math.ceil(max / step) * step, step };
}

const fmt = (v: number): string => (Number.isInteger(v) ? String(v) : v.toFixed(1));

export function renderChart(options: ChartOptions): string {
  const width = options.width ?? 900;
  const height = options.height ?? 400;
  const left = 64;
  const right = 16;
  const top = 56;
  const bottom = 48;
  const plotW = width - left - right;
  const plotH = height - top - bottom;
  const seconds = Math.max(1, ...options.series.map((s) => s.values.length));
  const yMax = Math.max(0, ...options.series.flatMap((s) => s.values));
  const y = niceScale(yMax);
  const x = niceScale(seconds, 10);
  const px = (second: number): number => left + (second / seconds) * plotW;
  const py = (value: number): number => top + plotH - (value / y.max) * plotH;

  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="white"/>`,
    `<text x="${width / 2}" y="20" text-anchor="middle" font-size="15">${escapeXml(options.title)}</text>`,
  ];
  for (const [i, span] of (options.spans ?? []).entries()) {
    const x0 = px(Math.max(0, span.from));
    const x1 = px(Math.min(seconds, span.to));
    if (x1 <= x0) continue;
    out.push(
      `<rect x="${x0.toFixed(1)}" y="${top}" width="${(x1 - x0).toFixed(1)}" height="${plotH}" fill="${i % 2 === 0 ? '#f1f4f8' : '#f8f5ee'}"/>`,
      `<text x="${((x0 + x1) / 2).toFixed(1)}" y="${top + 14}" text-anchor="middle" fill="#555">${escapeXml(span.label)}</text>`,
    );
  }
  for (let v = 0; v <= y.max + y.step / 2; v += y.step) {
    const yy = py(v).toFixed(1);
    out.push(
      `<line x1="${left}" y1="${yy}" x2="${left + plotW}" y2="${yy}" stroke="#ddd"/>`,
      `<text x="${left - 6}" y="${yy}" text-anchor="end" dominant-baseline="middle">${fmt(v)}</text>`,
    );
  }
  for (let s = 0; s <= seconds; s += x.step) {
    const xx = px(s).toFixed(1);
    out.push(
      `<line x1="${xx}" y1="${top + plotH}" x2="${xx}" y2="${top + plotH + 4}" stroke="#333"/>`,
      `<text x="${xx}" y="${top + plotH + 18}" text-anchor="middle">${fmt(s)}</text>`,
    );
  }
  out.push(
    `<line x1="${left}" y1="${top + plotH}" x2="${left + plotW}" y2="${top + plotH}" stroke="#333"/>`,
    `<line x1="${left}" y1="${top}" x2="${left}" y2="${top + plotH}" stroke="#333"/>`,
    `<text x="${left + plotW / 2}" y="${height - 10}" text-anchor="middle">seconds</text>`,
    `<text x="16" y="${top + plotH / 2}" text-anchor="middle" transform="rotate(-90 16 ${top + plotH / 2})">${escapeXml(options.yLabel ?? 'messages per second')}</text>`,
  );
  for (const [i, series] of options.series.entries()) {
    // Each value is the count for second i, drawn at the middle of that second.
    const points = series.values.map((v, s) => `${px(s + 0.5).toFixed(1)},${py(v).toFixed(1)}`).join(' ');
    if (points !== '')
      out.push(
        `<polyline fill="none" stroke="${escapeXml(series.color)}" stroke-width="2" points="${points}"/>`,
      );
    const lx = left + 10 + i * 160;
    out.push(
      `<rect x="${lx}" y="${top - 18}" width="14" height="4" fill="${escapeXml(series.color)}"/>`,
      `<text x="${lx + 20}" y="${top - 15}" dominant-baseline="middle">${escapeXml(series.name)}</text>`,
    );
  }
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
