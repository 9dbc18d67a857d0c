/**
 * The accept, e2e and latency scenarios, each against a fresh mxpress.
 *
 * In: a `BenchContext` (options, children, sampler, DNS address, sink). Out: one
 * plain result object per scenario (figures, not prose) that run.ts prints and
 * stores. A scenario fails (rejects) only when mxpress cannot be started or its
 * API cannot be read; refused messages are counted in the result instead.
 * Everything goes to 127.0.0.x.
 */
import { DeliveryProber, getStats, type StatsFigures } from './api.ts';
import type { Children } from './children.ts';
import { DeliveredStream } from './event-stream.ts';
import { mib, type Percentiles, percentiles, rate, round } from './figures.ts';
import type { BenchOptions } from './options.ts';
import { addIo, type IoUse, NO_IO, type ProcSampler } from './proc-sampler.ts';
import { type ServerOptions, type ServerProcess, startServer } from './server-process.ts';
import type { SinkHandle } from './sinks.ts';
import { type LoadOptions, type LoadResult, runLoad } from './smtp-load.ts';

export interface BenchContext {
  readonly options: BenchOptions;
  readonly children: Children;
  readonly sampler: ProcSampler;
  readonly dnsAddress: string;
  readonly sink: SinkHandle;
  readonly log: (line: string) => void;
  /** performance.now() of every acceptance in every scenario (for the chart). */
  readonly acceptedTimes: number[];
  /** Scenario spans on the performance.now() clock (for the chart). */
  readonly spans: { label: string; from: number; to: number }[];
  /** `--cpu-profile`: where each mxpress process writes its V8 CPU profiles. */
  readonly cpuProfileDir?: string;
}

export interface ProcessFigures {
  readonly cpuPercent: number;
  readonly peakCpuPercent: number;
  readonly peakRssMiB: number;
  /** mxpress only: CPU by thread (its threads named as in `threadLabel`), busiest first. */
  readonly threads?: readonly ThreadFigures[];
}

export interface ThreadFigures {
  readonly thread: string;
  readonly cpuPercent: number;
  /** The kernel's part of `cpuPercent`: socket and file system calls. */
  readonly systemPercent: number;
  /** Times per second the thread slept waiting for work (voluntary context switches). */
  readonly sleepsPerSecond: number;
  /** Times per second it was taken off a CPU while it had work (involuntary context switches). */
  readonly preemptionsPerSecond: number;
  /**
   * Read and write system calls per second (socket and file I/O, and the wake-ups one
   * thread sends another), and bytes per second it sent towards the disk; absent when
   * /proc did not give them.
   */
  readonly io?: {
    readonly readsPerSecond: number;
    readonly writesPerSecond: number;
    readonly diskBytesPerSecond: number;
  };
}

/**
 * The whole machine during a window: busy CPU, the part of it used by processes not in
 * the benchmark, and context switches per second (all CPUs, every process).
 */
export interface MachineFigures {
  readonly busyPercent: number;
  readonly othersPercent: number;
  readonly switchesPerSecond?: number;
}

export interface AcceptResult {
  readonly accepted: number;
  readonly failed: number;
  readonly errors: Readonly<Record<string, number>>;
  readonly seconds: number;
  readonly acceptedPerSecond: number;
  readonly dataTo250Ms: Percentiles;
  readonly commitGroups: { readonly groups: number; readonly items: number; readonly meanSize: number };
  readonly clientConnections: number;
  readonly pipelining: boolean;
  readonly mxpress: ProcessFigures;
  readonly generator: ProcessFigures;
  readonly machine: MachineFigures;
}

export interface E2eResult extends AcceptResult {
  readonly delivered: number;
  readonly allDelivered: boolean;
  /** First message sent -> last one counted at the sink. */
  readonly e2eSeconds: number;
  readonly deliveredPerSecond: number;
  readonly deliveryConnections: number;
  /** Destinations mxpress keeps (one per distinct MX host set: here one per domain). */
  readonly destinations: number;
  readonly messagesPerConnection: number;
  /** Messages whose commands rode with the previous message's final dot. */
  readonly messagesChained: number;
  /** Messages per connection seen by the sink: JS sink only (smtp-sink counts only ended sessions). */
  readonly sinkMessagesPerSession?: number;
  readonly perDomain?: { readonly domain: string; readonly messages: number; readonly connections: number }[];
  readonly sink: ProcessFigures;
}

export interface LatencyResult {
  readonly targetRate: number;
  readonly peakRate: number;
  readonly achievedRate: number;
  readonly accepted: number;
  readonly failed: number;
  /** The unmeasured run before: its length and the messages it sent. */
  readonly warmup: { readonly seconds: number; readonly accepted: number };
  readonly dataTo250Ms: Percentiles;
  readonly acceptToDeliveredMs: Percentiles;
  /** Remote's reply -> event on the live stream (absent when timing fell back to polling). */
  readonly feedbackMs?: Percentiles;
  /** How 250 -> delivered was timed: the SSE stream (every message) or polling sampled ids. */
  readonly deliveryTiming: 'live events, every message' | 'polling a sample';
  readonly sampled: number;
  readonly undelivered: number;
  readonly pollRequests: number;
  readonly mxpress: ProcessFigures;
  readonly machine: MachineFigures;
}

/** The load generator straight to the sink, with no mxpress between: what this machine allows now. */
export interface CeilingResult {
  readonly sent: number;
  readonly failed: number;
  readonly errors: Readonly<Record<string, number>>;
  /** First message sent -> last one counted at the sink. */
  readonly seconds: number;
  readonly perSecond: number;
  readonly allCounted: boolean;
  readonly pipelining: boolean;
  readonly generator: ProcessFigures;
  readonly sink: ProcessFigures;
  readonly machine: MachineFigures;
}

/** Loopback source addresses: mxpress allows 50 connections per client address. */
export function sourceAddresses(concurrency: number): string[] {
  if (concurrency <= 40) return [];
  return Array.from({ length: Math.ceil(concurrency / 40) }, (_, i) => `127.0.0.${11 + i}`);
}

export function baseLoad(ctx: BenchContext, server: ServerProcess): LoadOptions {
  return loadTo(ctx, server.smtp.host, server.smtp.port);
}

/** The scenarios' load (count, concurrency, size, domains, reuse) aimed at host:port. */
function loadTo(ctx: BenchContext, host: string, port: number): LoadOptions {
  const o = ctx.options;
  return {
    host,
    port,
    concurrency: o.concurrency,
    count: o.count,
    ...(o.durationSeconds !== undefined ? { durationMs: o.durationSeconds * 1000 } : {}),
    size: o.size,
    domains: o.domains,
    reuse: o.reuse,
    localAddresses: sourceAddresses(o.concurrency),
  };
}

/** What an mxpress thread is, from the name the kernel shows for it. */
export function threadLabel(name: string): string {
  if (name === 'MainThread') return 'main';
  if (name === 'mxpress-ingress') return 'SMTP ingress';
  if (name === 'mxpress-spool') return 'spool';
  if (name.startsWith('V8')) return 'V8 helpers';
  return 'other';
}

/** CPU by thread label (threads of one label summed), busiest first. */
function threadFigures(sampler: ProcSampler, name: string, from: number, to: number): ThreadFigures[] {
  interface Sum {
    cpu: number;
    system: number;
    sleeps: number;
    preemptions: number;
    /** Undefined once a thread of the label had no I/O counters. */
    io: IoUse | undefined;
  }
  const byLabel = new Map<string, Sum>();
  for (const t of sampler.threadWindow(name, from, to)) {
    const label = threadLabel(t.name);
    const sum = byLabel.get(label) ?? {
      cpu: 0,
      system: 0,
      sleeps: 0,
      preemptions: 0,
      io: NO_IO,
    };
    sum.cpu += t.cpuPercent;
    sum.system += t.systemPercent;
    sum.sleeps += t.sleepsPerSecond;
    sum.preemptions += t.preemptionsPerSecond;
    sum.io = sum.io !== undefined && t.io !== undefined ? addIo(sum.io, t.io, 1) : undefined;
    byLabel.set(label, sum);
  }
  return [...byLabel]
    .map(([thread, { cpu, system, sleeps, preemptions, io }]) => ({
      thread,
      cpuPercent: round(cpu),
      systemPercent: round(system),
      sleepsPerSecond: round(sleeps),
      preemptionsPerSecond: round(preemptions),
      ...(io !== undefined
        ? {
            io: {
              readsPerSecond: round(io.reads),
              writesPerSecond: round(io.writes),
              diskBytesPerSecond: Math.round(io.diskBytes),
            },
          }
        : {}),
    }))
    .sort((a, b) => b.cpuPercent - a.cpuPercent);
}

export function processFigures(sampler: ProcSampler, name: string, from: number, to: number): ProcessFigures {
  const w = sampler.window(name, from, to);
  const threads = threadFigures(sampler, name, from, to);
  return {
    cpuPercent: round(w.cpuPercent),
    peakCpuPercent: round(w.peakCpuPercent),
    peakRssMiB: mib(w.peakRssBytes),
    ...(threads.length > 0 ? { threads } : {}),
  };
}

const OURS = ['mxpress', 'bench', 'sink', 'dns'] as const;

export function machineFigures(sampler: ProcSampler, from: number, to: number): MachineFigures {
  const machine = sampler.window('machine', from, to);
  const busy = machine.cpuPercent;
  const ours = OURS.reduce((sum, name) => sum + sampler.window(name, from, to).cpuPercent, 0);
  return {
    busyPercent: round(busy),
    othersPercent: round(Math.max(0, busy - ours)),
    ...(machine.switchesPerSecond === undefined
      ? {}
      : { switchesPerSecond: round(machine.switchesPerSecond) }),
  };
}

/** Runs `fn` against a fresh mxpress in a temp data dir; kills it and removes the dir afterwards. */
export async function withServer<T>(
  ctx: BenchContext,
  extra: Partial<ServerOptions>,
  fn: (server: ServerProcess, dataDir: string) => Promise<T>,
): Promise<T> {
  const dataDir = await ctx.children.tempDir();
  try {
    const server = await startServer(ctx.children, {
      dataDir,
      dnsAddress: ctx.dnsAddress,
      mxPort: ctx.sink.port,
      ...(ctx.cpuProfileDir === undefined ? {} : { cpuProfileDir: ctx.cpuProfileDir }),
      ...extra,
    });
    ctx.sampler.watch('mxpress', server.pid, { threads: true });
    try {
      return await fn(server, dataDir);
    } finally {
      ctx.sampler.sample();
      ctx.sampler.forget('mxpress');
      // The data is thrown away: no need to drain the queue (unless a profile is due).
      await server.end();
    }
  } finally {
    await ctx.children.removeDir(dataDir);
  }
}

function acceptFigures(
  ctx: BenchContext,
  load: LoadResult,
  before: StatsFigures,
  after: StatsFigures,
): AcceptResult {
  const groups = after.commitGroups.groups - before.commitGroups.groups;
  const items = after.commitGroups.items - before.commitGroups.items;
  const ms = load.endedAt - load.startedAt;
  return {
    accepted: load.accepted,
    failed: load.failed,
    errors: load.errors,
    seconds: round(ms / 1000, 2),
    acceptedPerSecond: round(rate(load.accepted, ms)),
    dataTo250Ms: roundPercentiles(percentiles(load.latenciesMs)),
    commitGroups: { groups, items, meanSize: groups > 0 ? round(items / groups, 2) : 0 },
    clientConnections: load.connections,
    pipelining: load.pipelining,
    mxpress: processFigures(ctx.sampler, 'mxpress', load.startedAt, load.endedAt),
    generator: processFigures(ctx.sampler, 'bench', load.startedAt, load.endedAt),
    machine: machineFigures(ctx.sampler, load.startedAt, load.endedAt),
  };
}

export function roundPercentiles(p: Percentiles): Percentiles {
  return {
    count: p.count,
    p50: round(p.p50, 2),
    p90: round(p.p90, 2),
    p99: round(p.p99, 2),
    max: round(p.max, 2),
    mean: round(p.mean, 2),
  };
}

async function recordLoad(
  ctx: BenchContext,
  label: string,
  run: () => Promise<LoadResult>,
): Promise<LoadResult> {
  const from = performance.now();
  // A reading at the start, so that even a short load has one at each end of its window.
  ctx.sampler.sample();
  const load = await run();
  for (const t of load.acceptedAt) ctx.acceptedTimes.push(t);
  ctx.spans.push({ label, from, to: performance.now() });
  return load;
}

/**
 * The same load as accept and e2e, sent by the same generator straight to the sink:
 * the loopback ceiling of this machine at this moment, measured in the same run as
 * mxpress so that a ratio of the two means something on a shared, noisy machine.
 * Its messages are not counted as accepted in the chart (no mxpress accepted them);
 * the sink's line shows them.
 */
export async function ceilingScenario(ctx: BenchContext): Promise<CeilingResult> {
  const base = ctx.sink.count();
  const from = performance.now();
  ctx.sampler.sample();
  const load = await runLoad(loadTo(ctx, ctx.sink.host, ctx.sink.port));
  const doneAt = await ctx.sink.waitForCount(base + load.accepted, 30_000);
  const end = doneAt ?? performance.now();
  ctx.spans.push({ label: 'ceiling', from, to: end });
  ctx.sampler.sample();
  return {
    sent: load.accepted,
    failed: load.failed,
    errors: load.errors,
    seconds: round((end - load.startedAt) / 1000, 2),
    perSecond: round(rate(ctx.sink.count() - base, end - load.startedAt)),
    allCounted: doneAt !== undefined,
    pipelining: load.pipelining,
    generator: processFigures(ctx.sampler, 'bench', load.startedAt, end),
    sink: processFigures(ctx.sampler, 'sink', load.startedAt, end),
    machine: machineFigures(ctx.sampler, load.startedAt, end),
  };
}

export async function acceptScenario(ctx: BenchContext): Promise<AcceptResult> {
  return withServer(ctx, {}, async (server) => {
    const before = await getStats(server.httpBase);
    const load = await recordLoad(ctx, 'accept', () => runLoad(baseLoad(ctx, server)));
    ctx.sampler.sample();
    const after = await getStats(server.httpBase);
    return acceptFigures(ctx, load, before, after);
  });
}

export async function e2eScenario(ctx: BenchContext): Promise<E2eResult> {
  return withServer(ctx, {}, async (server) => {
    const before = await getStats(server.httpBase);
    const base = ctx.sink.count();
    const sessionsBase = ctx.sink.sessions();
    const from = performance.now();
    const load = await runLoad(baseLoad(ctx, server));
    for (const t of load.acceptedAt) ctx.acceptedTimes.push(t);
    const afterAccept = await getStats(server.httpBase);
    // Generous: the queue may deliver far slower than it accepts.
    const waitMs = Math.max(60_000, (load.endedAt - load.startedAt) * 4);
    const doneAt = await ctx.sink.waitForCount(base + load.accepted, waitMs);
    const end = doneAt ?? performance.now();
    ctx.spans.push({ label: 'e2e', from, to: end });
    ctx.sampler.sample();
    const after = await getStats(server.httpBase);
    const delivered = ctx.sink.count() - base;
    const connections = after.delivery.connectionsOpened - before.delivery.connectionsOpened;
    const sent = after.delivery.messagesSent - before.delivery.messagesSent;
    const sessions = ctx.sink.sessions() - sessionsBase;
    const perDomain = await ctx.sink.perDomain();
    return {
      ...acceptFigures(ctx, load, before, afterAccept),
      delivered,
      allDelivered: doneAt !== undefined,
      e2eSeconds: round((end - load.startedAt) / 1000, 2),
      deliveredPerSecond: round(rate(delivered, end - load.startedAt)),
      deliveryConnections: connections,
      destinations: after.delivery.destinations,
      messagesPerConnection: connections > 0 ? round(sent / connections, 2) : 0,
      messagesChained: after.delivery.messagesChained - before.delivery.messagesChained,
      ...(ctx.sink.kind === 'harness JS sink' && sessions > 0
        ? { sinkMessagesPerSession: round(delivered / sessions, 2) }
        : {}),
      ...(perDomain !== undefined ? { perDomain } : {}),
      mxpress: processFigures(ctx.sampler, 'mxpress', load.startedAt, end),
      sink: processFigures(ctx.sampler, 'sink', load.startedAt, end),
      machine: machineFigures(ctx.sampler, load.startedAt, end),
    };
  });
}

/** Hard cap on the latency run's messages, whatever rate and length were asked for. */
const MAX_LATENCY_MESSAGES = 1_000_000;

/** Unthrottled short run to find the peak rate when no earlier scenario measured it. */
async function calibrate(ctx: BenchContext, server: ServerProcess): Promise<number> {
  const load = await runLoad({ ...baseLoad(ctx, server), count: ctx.options.count, durationMs: 5000 });
  return rate(load.accepted, load.endedAt - load.startedAt);
}

/** Load run before the latency measurement, at its rate, and not counted. */
const LATENCY_WARMUP_SECONDS = 3;

export async function latencyScenario(ctx: BenchContext, measuredPeak?: number): Promise<LatencyResult> {
  return withServer(ctx, {}, async (server) => {
    let peak = measuredPeak ?? 0;
    if (ctx.options.latencyRate === undefined && !(peak > 0)) {
      ctx.log('  no peak measured yet: 5 s unthrottled calibration run');
      peak = await calibrate(ctx, server);
    }
    const target = Math.max(1, Math.round(ctx.options.latencyRate ?? peak / 2));
    // A fresh server spends its first second warming up (JIT, DNS, connections to every
    // destination) while the ingress thread already answers at full speed: that second
    // is run at the same rate and left out, so the figures describe the steady state.
    ctx.log(`  ${LATENCY_WARMUP_SECONDS} s warm-up at ${target} msgs/s (not measured)`);
    const warmup = await recordLoad(ctx, 'latency warm-up', () =>
      runLoad({
        ...baseLoad(ctx, server),
        count: Math.ceil(target * LATENCY_WARMUP_SECONDS),
        durationMs: LATENCY_WARMUP_SECONDS * 1000,
        ratePerSecond: target,
      }),
    );
    const seconds = ctx.options.latencySeconds;
    const expected = Math.min(MAX_LATENCY_MESSAGES, Math.ceil(target * seconds));
    const every = Math.max(1, Math.floor(expected / ctx.options.latencySamples));
    // Every message through the live event stream when the server has one; else poll a sample.
    const stream = await DeliveredStream.open(server.httpBase);
    const prober = new DeliveryProber(server.httpBase, { intervalMs: 10 });
    let acceptedCount = 0;
    let sampled = 0;
    const load = await recordLoad(ctx, 'latency', () =>
      runLoad({
        ...baseLoad(ctx, server),
        count: expected,
        durationMs: seconds * 1000,
        ratePerSecond: target,
        onAccepted: (id, wall) => {
          if (id === '') return;
          if (stream !== undefined) stream.accepted(id, wall);
          else if (acceptedCount++ % every === 0 && sampled < ctx.options.latencySamples) {
            sampled += 1;
            prober.add(id, wall);
          }
        },
      }),
    );
    const probe = await (stream ?? prober).finish(30_000);
    ctx.sampler.sample();
    return {
      targetRate: target,
      peakRate: round(peak),
      achievedRate: round(rate(load.accepted, load.endedAt - load.startedAt)),
      accepted: load.accepted,
      failed: load.failed,
      warmup: { seconds: LATENCY_WARMUP_SECONDS, accepted: warmup.accepted },
      dataTo250Ms: roundPercentiles(percentiles(load.latenciesMs)),
      acceptToDeliveredMs: roundPercentiles(percentiles(probe.latenciesMs)),
      ...(probe.feedbackMs && probe.feedbackMs.length > 0
        ? { feedbackMs: roundPercentiles(percentiles(probe.feedbackMs)) }
        : {}),
      deliveryTiming: stream !== undefined ? 'live events, every message' : 'polling a sample',
      sampled: probe.sampled,
      undelivered: probe.undelivered,
      pollRequests: probe.requests,
      mxpress: processFigures(ctx.sampler, 'mxpress', load.startedAt, load.endedAt),
      machine: machineFigures(ctx.sampler, load.startedAt, load.endedAt),
    };
  });
}
