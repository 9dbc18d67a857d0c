/**
 * Presents benchmark results: a plain-text table for the terminal, and
 * report.json plus throughput.svg in a fresh bench/out/<timestamp>/ directory.
 *
 * In: the results of the scenarios that ran and the throughput timeline. Out: a
 * string (the table) and the paths written. Fails only when the output
 * directory cannot be written (the caller reports it).
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { cpuMsPerMessage, perMessage, round } from './figures.ts';
import type { HealthyRun, QueueScaleResult, SearchTiming } from './queue-scale.ts';
import type {
  AcceptResult,
  CeilingResult,
  E2eResult,
  LatencyResult,
  MachineFigures,
  ProcessFigures,
  ThreadFigures,
} from './scenarios.ts';
import { type ChartSpan, renderChart } from './svg-chart.ts';

export interface Results {
  ceiling?: CeilingResult;
  accept?: AcceptResult;
  e2e?: E2eResult;
  latency?: LatencyResult;
  queueScale?: QueueScaleResult;
}

export interface Timeline {
  readonly acceptedPerSecond: readonly number[];
  readonly deliveredPerSecond: readonly number[];
  readonly spans: readonly ChartSpan[];
}

type Row = readonly [string, string];

const ms = (v: number): string => `${v.toFixed(v < 10 ? 2 : 1)} ms`;
const pct = (p: { p50: number; p90: number; p99: number; max: number }): string =>
  `${ms(p.p50)} / ${ms(p.p90)} / ${ms(p.p99)} / ${ms(p.max)}`;
/** A process's CPU and memory, and its CPU time per message at `perSecond` (the same window's rate). */
const cpu = (
  f: { cpuPercent: number; peakCpuPercent: number; peakRssMiB: number },
  perSecond: number,
): string =>
  `${f.cpuPercent}% CPU (peak ${f.peakCpuPercent}%), peak RSS ${f.peakRssMiB} MiB; ${cpuMsPerMessage(f.cpuPercent, perSecond)} ms CPU per message`;
/** The threads that used any CPU per message (to the figures' precision), busiest first. */
const shownThreads = (f: ProcessFigures, perSecond: number): readonly ThreadFigures[] =>
  (f.threads ?? []).filter((t) => cpuMsPerMessage(t.cpuPercent, perSecond) > 0);
/**
 * mxpress's CPU per message by thread, with the kernel's part of each, how often each
 * thread slept or was preempted per message, and the read and write system calls each
 * made per message (with the bytes it sent towards the disk), when its threads were read.
 */
function byThread(f: ProcessFigures, perSecond: number): Row[] {
  if (f.threads === undefined) return [];
  const shown = shownThreads(f, perSecond);
  const cpuOf = (t: ThreadFigures): string =>
    `${t.thread} ${cpuMsPerMessage(t.cpuPercent, perSecond)} (system ${cpuMsPerMessage(t.systemPercent, perSecond)})`;
  const switchesOf = (t: ThreadFigures): string =>
    `${t.thread} ${perMessage(t.sleepsPerSecond, perSecond)} slept, ${perMessage(t.preemptionsPerSecond, perSecond)} preempted`;
  const rows: Row[] = [
    ['mxpress by thread', `${shown.map(cpuOf).join(', ')} ms CPU per message`],
    ['mxpress switches', `${shown.map(switchesOf).join('; ')} per message`],
  ];
  // Threads that made system calls (to the figures' precision); V8's helpers make none.
  const withIo = shown.filter(
    (t) => t.io !== undefined && perMessage(t.io.readsPerSecond + t.io.writesPerSecond, perSecond) > 0,
  );
  if (withIo.length > 0)
    rows.push(['mxpress system calls', `${withIo.map((t) => ioOf(t, perSecond)).join('; ')} per message`]);
  return rows;
}
/** A thread's read and write system calls per message, and its disk bytes when it wrote any. */
function ioOf(t: ThreadFigures, perSecond: number): string {
  const io = t.io!;
  const disk = perMessage(io.diskBytesPerSecond / 1024, perSecond);
  return (
    `${t.thread} ${perMessage(io.readsPerSecond, perSecond)} reads, ${perMessage(io.writesPerSecond, perSecond)} writes` +
    (disk > 0 ? `, ${disk} KiB to disk` : '')
  );
}
/**
 * mxpress's CPU per message on the fresh servers before and after the backlog run, in
 * all and by thread: set beside the backlog run's, it tells a cost of the backlog from
 * a slower machine (the throughput ratio alone cannot).
 */
function withoutBacklog(q: QueueScaleResult): Row[] {
  const runs = [q.healthyWithoutBacklog, q.healthyFreshAfter];
  const perMessageOf = (run: HealthyRun, thread?: string): string => {
    const figures =
      thread === undefined ? run.mxpress : run.mxpress.threads?.find((t) => t.thread === thread);
    return figures === undefined ? '-' : String(cpuMsPerMessage(figures.cpuPercent, run.deliveredPerSecond));
  };
  const rows: Row[] = [
    [
      'mxpress, no backlog',
      `${runs.map((run) => perMessageOf(run)).join(' / ')} ms CPU per message (fresh server before / after)`,
    ],
  ];
  const before = q.healthyWithoutBacklog;
  const names = shownThreads(before.mxpress, before.deliveredPerSecond).map((t) => t.thread);
  if (names.length > 0)
    rows.push([
      'by thread, no backlog',
      `${names.map((name) => `${name} ${runs.map((run) => perMessageOf(run, name)).join(' / ')}`).join(', ')} ms CPU per message`,
    ]);
  return rows;
}
/** Machine CPU, and its context switches per message (every process) when /proc/stat has them. */
const machine = (m: MachineFigures, perSecond: number): string =>
  `${m.busyPercent}% CPU busy, ${m.othersPercent}% of it outside the benchmark` +
  (m.switchesPerSecond === undefined
    ? ''
    : `; ${perMessage(m.switchesPerSecond, perSecond)} context switches per message`);
const errs = (e: Readonly<Record<string, number>>): string =>
  Object.entries(e)
    .map(([k, v]) => `${k}x${v}`)
    .join(' ');

function section(title: string, rows: readonly Row[]): string {
  const width = Math.max(...rows.map(([k]) => k.length));
  return [`${title}`, ...rows.map(([k, v]) => `  ${k.padEnd(width)}  ${v}`)].join('\n');
}

/** mxpress's rate as a share of the ceiling measured in the same run (none without one). */
export function shareOfCeiling(results: Results, perSecond: number): number | undefined {
  const ceiling = results.ceiling?.perSecond;
  return ceiling !== undefined && ceiling > 0 ? round(perSecond / ceiling, 2) : undefined;
}

export function formatTable(results: Results, sinkKind: string): string {
  const parts: string[] = [`sink: ${sinkKind}`];
  const c = results.ceiling;
  if (c)
    parts.push(
      section('ceiling (the same load straight to the sink, no mxpress)', [
        [
          'sent',
          `${c.perSecond} msgs/s (${c.sent} in ${c.seconds} s, ${c.failed} failed${c.allCounted ? '' : ', NOT ALL COUNTED AT THE SINK'})`,
        ],
        ['load generator', `${c.generator.cpuPercent}% CPU`],
        ['sink', `${c.sink.cpuPercent}% CPU`],
        ['machine', machine(c.machine, c.perSecond)],
        ...(c.failed > 0 ? ([['failures', errs(c.errors)]] as Row[]) : []),
      ]),
    );
  const ofCeiling = (perSecond: number): Row[] => {
    const share = shareOfCeiling(results, perSecond);
    return share === undefined ? [] : [['share of the ceiling', String(share)]];
  };
  const a = results.accept;
  if (a)
    parts.push(
      section('accept (durable commits)', [
        ['accepted', `${a.acceptedPerSecond} msgs/s (${a.accepted} in ${a.seconds} s, ${a.failed} failed)`],
        ...ofCeiling(a.acceptedPerSecond),
        ['DATA->250 p50/p90/p99/max', pct(a.dataTo250Ms)],
        [
          'commit group size',
          `${a.commitGroups.meanSize} (${a.commitGroups.items} writes in ${a.commitGroups.groups} syncs)`,
        ],
        ['mxpress', cpu(a.mxpress, a.acceptedPerSecond)],
        ...byThread(a.mxpress, a.acceptedPerSecond),
        ['load generator', `${a.generator.cpuPercent}% CPU`],
        ['machine', machine(a.machine, a.acceptedPerSecond)],
        ...(a.failed > 0 ? ([['failures', errs(a.errors)]] as Row[]) : []),
      ]),
    );
  const e = results.e2e;
  if (e)
    parts.push(
      section('e2e (delivered, counted at the sink)', [
        ['accepted', `${e.acceptedPerSecond} msgs/s (${e.accepted} in ${e.seconds} s, ${e.failed} failed)`],
        [
          'delivered',
          `${e.deliveredPerSecond} msgs/s (${e.delivered} in ${e.e2eSeconds} s${e.allDelivered ? '' : ', NOT ALL DELIVERED'})`,
        ],
        ...ofCeiling(e.deliveredPerSecond),
        ['DATA->250 p50/p90/p99/max', pct(e.dataTo250Ms)],
        [
          'msgs per connection',
          `${e.messagesPerConnection} (mxpress: ${e.deliveryConnections} connections; ${e.messagesChained} sent with the previous final dot)`,
        ],
        ...(e.sinkMessagesPerSession !== undefined
          ? ([['msgs per sink connection', String(e.sinkMessagesPerSession)]] as Row[])
          : []),
        [
          'per domain',
          `${(e.deliveryConnections / Math.max(1, e.destinations)).toFixed(1)} connections to each of ${e.destinations} destinations` +
            (e.perDomain ? '' : ' (mxpress totals; --sink js measures each domain)'),
        ],
        ...(e.perDomain
          ? ([
              [
                'per domain msgs/conn',
                e.perDomain
                  .slice(0, 6)
                  .map((d) => `${d.domain} ${(d.messages / Math.max(1, d.connections)).toFixed(1)}`)
                  .join(', ') + (e.perDomain.length > 6 ? ', ...' : ''),
              ],
            ] as Row[])
          : []),
        ['commit group size', String(e.commitGroups.meanSize)],
        ['mxpress', cpu(e.mxpress, e.deliveredPerSecond)],
        ...byThread(e.mxpress, e.deliveredPerSecond),
        ['sink', `${e.sink.cpuPercent}% CPU`],
        ['machine', machine(e.machine, e.deliveredPerSecond)],
        ...(e.failed > 0 ? ([['failures', errs(e.errors)]] as Row[]) : []),
      ]),
    );
  const l = results.latency;
  const jsSinkNote: Row[] =
    sinkKind === 'harness JS sink'
      ? [['note', 'the JS sink answers with Nagle on: expect ~40 ms more per delivery than with smtp-sink']]
      : [];
  if (l)
    parts.push(
      section(`latency (at ${l.targetRate} msgs/s, half of ${l.peakRate})`, [
        [
          'achieved',
          `${l.achievedRate} msgs/s (${l.accepted} accepted, ${l.failed} failed), after a ${l.warmup.seconds} s warm-up (${l.warmup.accepted} messages, not measured)`,
        ],
        ['DATA->250 p50/p90/p99/max', pct(l.dataTo250Ms)],
        [
          '250->delivered p50/p90/p99/max',
          `${pct(l.acceptToDeliveredMs)} (${l.acceptToDeliveredMs.count} of ${l.sampled} by ${l.deliveryTiming}${l.undelivered ? `, ${l.undelivered} not delivered` : ''})`,
        ],
        ...(l.feedbackMs
          ? ([['remote reply->event on stream p50/p90/p99/max', pct(l.feedbackMs)]] as Row[])
          : []),
        ['mxpress', cpu(l.mxpress, l.achievedRate)],
        ...byThread(l.mxpress, l.achievedRate),
        ['machine', machine(l.machine, l.achievedRate)],
        ...jsSinkNote,
      ]),
    );
  const q = results.queueScale;
  if (q)
    parts.push(
      section(`queue-scale (${q.backlog} deferred messages)`, [
        ['fill', `${q.fill.acceptedPerSecond} msgs/s accepted, deferred in ${q.fill.settledSeconds} s`],
        [
          'RSS with backlog',
          `${q.rssWithBacklogMiB} MiB (peak ${q.peakRssMiB} MiB), spool ${q.spoolMiB} MiB on disk`,
        ],
        ['graceful stop', `${q.stopSeconds} s`],
        [
          'restart to SMTP 220',
          `${q.restartSeconds} s (RSS then ${q.rssAfterRestartMiB} MiB; ${q.deferredAfterRestart} still deferred)`,
        ],
        [
          'healthy beside backlog',
          `${q.healthy.acceptedPerSecond} msgs/s accepted, ${q.healthy.deliveredPerSecond} msgs/s delivered (${q.healthy.delivered}/${q.healthy.accepted})`,
        ],
        [
          'same load, no backlog',
          `${q.healthyWithoutBacklog.deliveredPerSecond} msgs/s on the fresh server before the fill, ${q.healthyFreshAfter.deliveredPerSecond} on a fresh server after (backlog/none: ${backlogRatio(q)})`,
        ],
        ['mxpress while healthy', cpu(q.healthy.mxpress, q.healthy.deliveredPerSecond)],
        ...byThread(q.healthy.mxpress, q.healthy.deliveredPerSecond),
        ...withoutBacklog(q),
        ['search beside backlog', searches(q)],
      ]),
    );
  return `${parts.join('\n\n')}\n`;
}

/** The API searches beside the backlog: the first answer, then the median of the repeats. */
function searches(q: QueueScaleResult): string {
  const one = (label: string, t: SearchTiming): string =>
    `${label} ${t.firstMs} ms, then ${t.medianMs} ms (${t.found} found)`;
  const s = q.searches;
  return [
    one('oldest recipient', s.oldestRecipient),
    one('absent recipient', s.absentRecipient),
    one('sender, page of 50', s.senderPage),
  ].join('; ');
}

/** Healthy throughput beside the backlog over the mean of the fresh-server runs around it. */
export function backlogRatio(q: QueueScaleResult): number {
  const none = (q.healthyWithoutBacklog.deliveredPerSecond + q.healthyFreshAfter.deliveredPerSecond) / 2;
  return none > 0 ? round(q.healthy.deliveredPerSecond / none, 2) : 0;
}

/** A directory name from the time: 2025-01-31T12-00-00. */
export function stamp(date: Date): string {
  return date.toISOString().slice(0, 19).replace(/:/g, '-');
}

export async function writeReport(
  outDir: string,
  started: Date,
  report: Record<string, unknown>,
  timeline: Timeline,
): Promise<{ dir: string; json: string; svg: string }> {
  const dir = resolve(outDir, stamp(started));
  await mkdir(dir, { recursive: true });
  const json = join(dir, 'report.json');
  const svg = join(dir, 'throughput.svg');
  await writeFile(json, `${JSON.stringify({ ...report, timeline }, null, 2)}\n`);
  await writeFile(
    svg,
    renderChart({
      title: `mxpress throughput (${started.toISOString().slice(0, 19)}Z)`,
      series: [
        { name: 'accepted/s', color: '#1f77b4', values: timeline.acceptedPerSecond },
        { name: 'delivered/s (sink)', color: '#d62728', values: timeline.deliveredPerSecond },
      ],
      spans: timeline.spans,
    }),
  );
  return { dir, json, svg };
}
