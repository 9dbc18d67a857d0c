/**
 * `npm run bench`: the end-to-end benchmark of mxpress on loopback.
 *
 * Starts a DNS server (child process) with MX records for d1..dN.test, a
 * receiving sink on 127.0.0.2 (Postfix smtp-sink, else the harness JS sink) and,
 * per scenario, a fresh mxpress child; generates SMTP load from this process;
 * prints a table and writes bench/out/<timestamp>/report.json and throughput.svg.
 * See `npm run bench -- --help` (options.ts) for scenarios and options.
 *
 * Bounded: message counts and run time have hard caps (--max-seconds), every
 * target is 127.0.0.x, and every child is stopped on exit, on Ctrl-C/SIGTERM and,
 * through the reaper child, even when this process is killed. Exit codes: 0 ok,
 * 1 a scenario failed, 2 the time cap was hit, 64 bad usage, 130 interrupted.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { cpus, loadavg, release, totalmem } from 'node:os';
import { resolve } from 'node:path';
import { Children, waitMessage } from './children.ts';
import { counterPerSecond, mib, perSecond } from './figures.ts';
import { type BenchOptions, HELP, parseOptions, type Scenario, UsageError } from './options.ts';
import { MACHINE, ProcSampler } from './proc-sampler.ts';
import { queueScaleScenario } from './queue-scale.ts';
import { formatTable, type Results, shareOfCeiling, stamp, type Timeline, writeReport } from './report.ts';
import {
  acceptScenario,
  type BenchContext,
  ceilingScenario,
  e2eScenario,
  latencyScenario,
} from './scenarios.ts';
import { startSink } from './sinks.ts';

const log = (line: string): void => {
  process.stderr.write(`${line}\n`);
};

function options(): BenchOptions {
  try {
    return parseOptions(process.argv.slice(2));
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    log(`bench: ${error.message}\n\n${HELP}`);
    process.exit(64);
  }
}

function gitCommit(): string | undefined {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], {
      encoding: 'utf8',
      timeout: 2000,
      stdio: ['ignore', 'pipe', 'ignore'],
    }).trim();
  } catch {
    return undefined;
  }
}

async function runScenario(ctx: BenchContext, scenario: Scenario, results: Results): Promise<void> {
  switch (scenario) {
    case 'ceiling':
      results.ceiling = await ceilingScenario(ctx);
      return;
    case 'accept':
      results.accept = await acceptScenario(ctx);
      return;
    case 'e2e':
      results.e2e = await e2eScenario(ctx);
      return;
    case 'latency': {
      const peak = results.accept?.acceptedPerSecond ?? results.e2e?.acceptedPerSecond;
      results.latency = await latencyScenario(ctx, peak);
      return;
    }
    case 'queue-scale':
      results.queueScale = await queueScaleScenario(ctx);
      return;
    default: {
      const never: never = scenario;
      throw new Error(`unknown scenario ${String(never)}`);
    }
  }
}

async function main(): Promise<number> {
  const opts = options();
  if (opts.help) {
    process.stdout.write(HELP);
    return 0;
  }
  if (Number(process.versions.node.split('.')[0]) < 24) {
    log(`bench: needs Node 24 (this is ${process.version}); run it with "npm run bench"`);
    return 64;
  }
  if (!existsSync('/proc/self/stat')) {
    log('bench: needs Linux /proc to measure CPU and memory');
    return 64;
  }
  const started = new Date();
  const origin = performance.now();
  const loadBefore = loadavg().map((v) => Number(v.toFixed(2)));
  if ((loadBefore[0] ?? 0) > 1)
    log(`bench: the machine is busy already (load ${loadBefore.join(' ')}): figures will be noisy`);
  const children = await Children.start();
  let cleaning: Promise<void> | undefined;
  const cleanup = (): Promise<void> => {
    cleaning ??= children.stopAll();
    return cleaning;
  };
  let bailing = false;
  const bail = (why: string, code: number) => (): void => {
    // A terminal's Ctrl-C may arrive twice (here and through npm): the first one wins.
    if (bailing) return;
    bailing = true;
    log(`bench: ${why}; stopping the child processes`);
    cleanup().finally(() => process.exit(code));
  };
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, bail(signal, 130));
  setTimeout(bail(`hard time cap of ${opts.maxSeconds} s reached`, 2), opts.maxSeconds * 1000).unref();

  const sampler = new ProcSampler(250);
  const results: Results = {};
  const errors: Record<string, string> = {};
  try {
    const dns = children.fork('./dns-child.ts', [String(opts.domains)]);
    const { address: dnsAddress } = await waitMessage<{ address: string }>(dns, 'ready', 15_000);
    const sink = await startSink(children, { host: '127.0.0.2', mode: 'accept', prefer: opts.sink });
    log(`bench: DNS ${dnsAddress} (child ${dns.pid}); sink: ${sink.kind} on ${sink.host}:${sink.port}`);
    sampler.watch('bench', process.pid);
    sampler.watch('sink', sink.pid);
    sampler.watch('dns', dns.pid ?? 0);
    sampler.watch('machine', MACHINE);
    sampler.start();
    const cpuProfileDir = opts.cpuProfile ? resolve(opts.outDir, stamp(started), 'profiles') : undefined;
    if (cpuProfileDir !== undefined) await mkdir(cpuProfileDir, { recursive: true });
    const ctx: BenchContext = {
      options: opts,
      children,
      sampler,
      dnsAddress,
      sink,
      log,
      acceptedTimes: [],
      spans: [],
      ...(cpuProfileDir === undefined ? {} : { cpuProfileDir }),
    };
    for (const scenario of opts.scenarios) {
      log(`bench: ${scenario} ...`);
      const t0 = performance.now();
      try {
        await runScenario(ctx, scenario, results);
        log(`bench: ${scenario} done in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
      } catch (error) {
        if (bailing) break;
        errors[scenario] = error instanceof Error ? error.message : String(error);
        log(`bench: ${scenario} FAILED: ${errors[scenario]}`);
      }
      if (bailing) break;
    }
    // Interrupted: the children are being stopped; no report from a half-done run.
    if (bailing) return 130;
    sampler.sample();
    const seconds = Math.ceil((performance.now() - origin) / 1000);
    const timeline: Timeline = {
      acceptedPerSecond: perSecond(ctx.acceptedTimes, origin, seconds),
      deliveredPerSecond: counterPerSecond(sink.observations, origin, seconds),
      spans: ctx.spans.map((s) => ({
        label: s.label,
        from: (s.from - origin) / 1000,
        to: (s.to - origin) / 1000,
      })),
    };
    process.stdout.write(`\n${formatTable(results, sink.kind)}`);
    const report = {
      tool: 'mxpress bench',
      startedAt: started.toISOString(),
      seconds,
      commit: gitCommit(),
      machine: {
        cpus: cpus().length,
        cpuModel: cpus()[0]?.model,
        memoryMiB: mib(totalmem()),
        kernel: release(),
        node: process.version,
        loadBefore,
        loadAfter: loadavg().map((v) => Number(v.toFixed(2))),
      },
      options: opts,
      sink: sink.kind,
      results,
      // mxpress's rates over the ceiling measured in this run (absent without one).
      shareOfCeiling: {
        accepted: results.accept && shareOfCeiling(results, results.accept.acceptedPerSecond),
        delivered: results.e2e && shareOfCeiling(results, results.e2e.deliveredPerSecond),
      },
      errors,
    };
    const written = await writeReport(opts.outDir, started, report, timeline);
    process.stdout.write(`\nreport: ${written.json}\nchart:  ${written.svg}\n`);
    if (cpuProfileDir !== undefined) {
      const profiles = readdirSync(cpuProfileDir).filter((f) => f.endsWith('.cpuprofile'));
      process.stdout.write(
        `profiles: ${profiles.length} .cpuprofile files in ${cpuProfileDir} (one per thread of each mxpress run; open them in Chrome DevTools or speedscope)\n`,
      );
    }
  } finally {
    sampler.stop();
    await cleanup();
  }
  return Object.keys(errors).length > 0 ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    log(`bench: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    process.exit(1);
  },
);
