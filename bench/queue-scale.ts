/**
 * The queue-scale scenario: how mxpress carries a large deferred backlog.
 *
 * Fills the queue with N messages to defer.test (its MX is a second sink on
 * 127.0.0.3 that answers 451 to every RCPT; retries are 6 hours apart, so
 * nothing comes due again), waits until every one was tried and deferred, then
 * measures mxpress's RSS, a graceful stop, a restart (spawn -> SMTP 220 on the
 * same port) and the RSS after it, and finally e2e throughput to the healthy
 * domains beside the backlog, against the same load sent to the fresh server
 * before the fill and to another fresh server right after (every one of them right
 * after a start, so all equally cold); beside the backlog it also times three searches
 * through the API. In: a `BenchContext`. Out: `QueueScaleResult`.
 * Rejects when a server does not start or the backlog never settles within a
 * bound that grows with N. Loopback only.
 */
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { getStats, searchMessages } from './api.ts';
import { mib, percentiles, rate, round } from './figures.ts';
import { readProc } from './proc-sampler.ts';
import {
  type BenchContext,
  baseLoad,
  type ProcessFigures,
  processFigures,
  roundPercentiles,
  withServer,
} from './scenarios.ts';
import { type ServerProcess, startServer } from './server-process.ts';
import { startSink } from './sinks.ts';
import { LOAD_SENDER, type LoadResult, loadRecipient, runLoad } from './smtp-load.ts';

export interface QueueScaleResult {
  readonly backlog: number;
  readonly fill: {
    readonly accepted: number;
    readonly failed: number;
    readonly errors: Readonly<Record<string, number>>;
    readonly acceptedPerSecond: number;
    readonly seconds: number;
    /** Fill start -> every recipient deferred. */
    readonly settledSeconds: number;
    readonly deferred: number;
  };
  readonly spoolMiB: number;
  readonly rssWithBacklogMiB: number;
  readonly peakRssMiB: number;
  readonly stopSeconds: number;
  readonly restartSeconds: number;
  readonly restartBannerSeconds: number;
  readonly rssAfterRestartMiB: number;
  readonly deferredAfterRestart: number;
  /** The healthy load beside the backlog, after the restart. */
  readonly healthy: HealthyRun & {
    readonly accepted: number;
    readonly failed: number;
    readonly acceptedPerSecond: number;
    readonly dataTo250Ms: ReturnType<typeof percentiles>;
  };
  /** The same healthy load on the fresh server, before the backlog was filled. */
  readonly healthyWithoutBacklog: HealthyRun;
  /** And on another fresh server (empty data dir) right after the backlog run. */
  readonly healthyFreshAfter: HealthyRun;
  /** API searches beside the backlog, after the healthy run. */
  readonly searches: {
    /** The fill's first recipient: one match, in the oldest part of the spool's search index. */
    readonly oldestRecipient: SearchTiming;
    /** An address no message has: every part is probed. */
    readonly absentRecipient: SearchTiming;
    /** The load's one sender, a page of 50. */
    readonly senderPage: SearchTiming;
  };
}

/** One search, asked SEARCH_REPEATS + 1 times: its first answer's time and the median of the rest. */
export interface SearchTiming {
  readonly found: number;
  readonly firstMs: number;
  readonly medianMs: number;
}

const SEARCH_REPEATS = 5;

/** A healthy run: its throughput and what mxpress spent on it. */
export interface HealthyRun {
  readonly delivered: number;
  readonly deliveredPerSecond: number;
  readonly mxpress: ProcessFigures;
}

/** The deferring domain (dns-child.ts points its MX at the sink answering 451 to RCPT). */
const DEFER_DOMAIN = 'defer.test';

const RETRY_FLAGS = ['--retry-intervals', '6h', '--max-queue-time', '5d'];

async function timeSearch(base: string, query: string): Promise<SearchTiming> {
  const times: number[] = [];
  let found = 0;
  for (let i = 0; i <= SEARCH_REPEATS; i++) {
    const from = performance.now();
    found = await searchMessages(base, query);
    times.push(performance.now() - from);
  }
  return {
    found,
    firstMs: round(times[0]!, 1),
    medianMs: round(percentiles(times.slice(1)).p50, 1),
  };
}

async function dirBytes(dir: string): Promise<number> {
  let total = 0;
  for (const name of await readdir(dir)) {
    const s = await stat(join(dir, name)).catch(() => undefined);
    if (s?.isFile()) total += s.size;
  }
  return total;
}

/** Polls the stats until `deferred` reaches `target` (or stops moving for long); returns the last figure. */
async function waitDeferred(
  ctx: BenchContext,
  base: string,
  target: number,
  timeoutMs: number,
): Promise<number> {
  const deadline = performance.now() + timeoutMs;
  let lastLog = performance.now();
  let deferred = 0;
  while (performance.now() < deadline) {
    deferred = (await getStats(base)).recipientsByStatus.deferred ?? 0;
    if (deferred >= target) return deferred;
    if (performance.now() - lastLog > 10_000) {
      ctx.log(`  ${deferred} of ${target} deferred so far`);
      lastLog = performance.now();
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  return deferred;
}

/**
 * `healthyCount` messages to the healthy domains, counted until the sink has them all,
 * with mxpress's CPU over the same window (the sampler watches `server`).
 */
async function healthyRun(
  ctx: BenchContext,
  server: ServerProcess,
  label: string,
): Promise<{ load: LoadResult; run: HealthyRun }> {
  const base = ctx.sink.count();
  const from = performance.now();
  const load = await runLoad({ ...baseLoad(ctx, server), count: ctx.options.healthyCount });
  for (const t of load.acceptedAt) ctx.acceptedTimes.push(t);
  const doneAt = await ctx.sink.waitForCount(base + load.accepted, 120_000);
  const end = doneAt ?? performance.now();
  ctx.spans.push({ label, from, to: end });
  ctx.sampler.sample();
  const delivered = ctx.sink.count() - base;
  return {
    load,
    run: {
      delivered,
      deliveredPerSecond: round(rate(delivered, end - load.startedAt)),
      mxpress: processFigures(ctx.sampler, 'mxpress', load.startedAt, end),
    },
  };
}

export async function queueScaleScenario(ctx: BenchContext): Promise<QueueScaleResult> {
  const n = ctx.options.queueScale;
  const deferSink = await startSink(ctx.children, {
    host: '127.0.0.3',
    port: ctx.sink.port,
    mode: 'defer',
    prefer: ctx.options.sink,
  });
  try {
    return await withServer(ctx, { extraArgs: RETRY_FLAGS }, async (first, dataDir) => {
      ctx.log(`  ${ctx.options.healthyCount} messages to the healthy domains, before any backlog`);
      const without = await healthyRun(ctx, first, 'no backlog yet');
      ctx.log(`  filling the queue with ${n} messages to ${DEFER_DOMAIN}`);
      const fillFrom = performance.now();
      // The backlog is filled by count, whatever --duration says.
      const { durationMs: _ignored, ...fillLoad } = baseLoad(ctx, first);
      const fill = await runLoad({
        ...fillLoad,
        count: n,
        reuse: true,
        domainOf: () => DEFER_DOMAIN,
      });
      for (const t of fill.acceptedAt) ctx.acceptedTimes.push(t);
      const deferred = await waitDeferred(ctx, first.httpBase, fill.accepted, Math.max(120_000, n * 5));
      const settled = performance.now();
      ctx.spans.push({ label: 'queue fill', from: fillFrom, to: settled });
      ctx.sampler.sample();
      const withBacklog = readProc(first.pid);
      const spoolBytes = await dirBytes(dataDir);

      ctx.log('  stopping and restarting mxpress with the backlog');
      const stopMs = await first.stop(120_000);
      ctx.sampler.forget('mxpress');
      const second = await startServer(ctx.children, {
        dataDir,
        dnsAddress: ctx.dnsAddress,
        mxPort: ctx.sink.port,
        smtpPort: first.smtp.port,
        httpPort: first.httpPort,
        extraArgs: RETRY_FLAGS,
        startTimeoutMs: 600_000,
        ...(ctx.cpuProfileDir === undefined ? {} : { cpuProfileDir: ctx.cpuProfileDir }),
      });
      try {
        ctx.sampler.watch('mxpress', second.pid, { threads: true });
        const afterRestart = readProc(second.pid);
        const deferredAfterRestart = (await getStats(second.httpBase)).recipientsByStatus.deferred ?? 0;

        ctx.log(`  ${ctx.options.healthyCount} messages to the healthy domains beside the backlog`);
        const beside = await healthyRun(ctx, second, 'beside backlog');
        const healthy = beside.load;
        const query = (name: string, address: string) => `${name}=${encodeURIComponent(address)}`;
        const searches = {
          // The fill's first message.
          oldestRecipient: await timeSearch(
            second.httpBase,
            query('recipient', loadRecipient(0, DEFER_DOMAIN)),
          ),
          absentRecipient: await timeSearch(second.httpBase, query('recipient', `absent@${DEFER_DOMAIN}`)),
          senderPage: await timeSearch(second.httpBase, `${query('sender', LOAD_SENDER)}&limit=50`),
        };
        ctx.sampler.forget('mxpress');
        await second.end();
        // The same load on another fresh server now: the machine after the fill is not
        // the machine before it (page cache, other tenants), so the backlog run is
        // compared with fresh-server runs on both sides of it in time.
        ctx.log(`  ${ctx.options.healthyCount} messages to the healthy domains on a fresh server, after`);
        const after = await withServer(ctx, { extraArgs: RETRY_FLAGS }, (fresh) =>
          healthyRun(ctx, fresh, 'fresh server after'),
        );
        return {
          backlog: n,
          fill: {
            accepted: fill.accepted,
            failed: fill.failed,
            errors: fill.errors,
            acceptedPerSecond: round(rate(fill.accepted, fill.endedAt - fill.startedAt)),
            seconds: round((fill.endedAt - fill.startedAt) / 1000, 2),
            settledSeconds: round((settled - fillFrom) / 1000, 2),
            deferred,
          },
          spoolMiB: mib(spoolBytes),
          rssWithBacklogMiB: mib(withBacklog?.rssBytes ?? 0),
          peakRssMiB: mib(withBacklog?.hwmBytes ?? 0),
          stopSeconds: round(stopMs / 1000, 2),
          restartSeconds: round(second.greetingMs / 1000, 2),
          restartBannerSeconds: round(second.bannerMs / 1000, 2),
          rssAfterRestartMiB: mib(afterRestart?.rssBytes ?? 0),
          deferredAfterRestart,
          healthy: {
            ...beside.run,
            accepted: healthy.accepted,
            failed: healthy.failed,
            acceptedPerSecond: round(rate(healthy.accepted, healthy.endedAt - healthy.startedAt)),
            dataTo250Ms: roundPercentiles(percentiles(healthy.latenciesMs)),
          },
          healthyWithoutBacklog: without.run,
          healthyFreshAfter: after.run,
          searches,
        };
      } finally {
        ctx.sampler.forget('mxpress');
        await second.end();
      }
    });
  } finally {
    await ctx.children.stop(deferSink.child);
  }
}
