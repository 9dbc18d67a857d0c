/**
 * Command-line options of `npm run bench`, their defaults, hard caps and help.
 *
 * In: argv (after `--`). Out: a frozen `BenchOptions`, or a `UsageError` whose
 * message says what is wrong. Every number is checked against a range: the
 * benchmark must stay bounded however it is called.
 */
import { parseArgs } from 'node:util';

export type Scenario = 'ceiling' | 'accept' | 'e2e' | 'latency' | 'queue-scale';

export interface BenchOptions {
  readonly help: boolean;
  readonly scenarios: readonly Scenario[];
  readonly count: number;
  /** Seconds; when set, load phases run for this long (still capped by `count`). */
  readonly durationSeconds?: number;
  readonly concurrency: number;
  readonly size: number;
  readonly domains: number;
  readonly reuse: boolean;
  readonly latencySeconds: number;
  readonly latencySamples: number;
  /** Fixed rate for the latency scenario instead of half the measured peak. */
  readonly latencyRate?: number;
  readonly queueScale: number;
  /** Messages for the healthy-destination run beside the backlog. */
  readonly healthyCount: number;
  readonly sink: 'auto' | 'postfix' | 'js';
  readonly maxSeconds: number;
  readonly outDir: string;
  /** Write V8 CPU profiles of mxpress next to the report. */
  readonly cpuProfile: boolean;
}

export class UsageError extends Error {}

/** Run order: the ceiling first, so that the scenarios after it can say what share of it they reached. */
const ORDER: readonly Scenario[] = ['ceiling', 'accept', 'e2e', 'latency', 'queue-scale'];
const ALL: readonly Scenario[] = ['ceiling', 'accept', 'e2e', 'latency'];

export const HELP = `Usage: npm run bench -- [options]

Benchmarks mxpress end to end on loopback: a DNS server (child process) serves MX
for d1.test..dN.test pointing at one receiving sink (Postfix smtp-sink when
installed, else the harness JS sink), mxpress runs as a child process, and this
process generates SMTP load. Prints a table and writes bench/out/<time>/report.json
and throughput.svg.

Scenarios (--scenario, comma-separated; default all = ceiling,accept,e2e,latency):
  ceiling       the same load straight to the sink, no mxpress: the machine's loopback
                ceiling now, so that accept and e2e also print their share of it
  accept        peak accepted msgs/s with durable commits, commit group size
  e2e           accepted and delivered msgs/s (counted at the sink), msgs per connection
  latency       at half the peak measured before: DATA->250 and 250->delivered percentiles
  queue-scale   fill the queue with --queue-scale N messages to a deferring destination,
                then RSS, restart time and healthy throughput beside the backlog
                (not part of "all"; --queue-scale N alone selects it)

Options:
  --scenario LIST         ceiling|accept|e2e|latency|queue-scale|all (all)
  --count N               messages per load phase (20000; at most 1000000)
  --duration S            run load phases for S seconds instead (still at most --count)
  --concurrency N         concurrent SMTP client loops (32; at most 1000)
  --size BYTES            message size (4096; 100..10485760)
  --domains N             recipient domains d1..dN.test (20; at most 1000)
  --reuse                 keep client connections open between messages
  --latency-seconds S     length of the latency run (15)
  --latency-samples N     messages followed until delivered (200; at most 2000)
  --latency-rate N        msgs/s for the latency run (default: half the measured peak)
  --queue-scale N         backlog size for queue-scale (100000 when that scenario is chosen)
  --healthy-count N       messages sent beside the backlog (5000)
  --sink auto|postfix|js  receiving sink (auto: Postfix smtp-sink if installed)
  --max-seconds S         hard cap on the whole run (600, or 3600 with queue-scale)
  --out DIR               where reports go (bench/out)
  --cpu-profile           also write V8 CPU profiles of each mxpress process (main
                          thread and spool worker) to <out>/<time>/profiles, for
                          Chrome DevTools or speedscope; mxpress then stops
                          gracefully after each scenario so that V8 writes them
  --help                  this text
`;

function int(name: string, raw: string | undefined, fallback: number, min: number, max: number): number {
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max)
    throw new UsageError(`--${name}: expected a whole number from ${min} to ${max}, got "${raw}"`);
  return value;
}

export function parseOptions(argv: readonly string[]): BenchOptions {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      allowPositionals: false,
      options: {
        help: { type: 'boolean', short: 'h' },
        scenario: { type: 'string' },
        count: { type: 'string' },
        duration: { type: 'string' },
        concurrency: { type: 'string' },
        size: { type: 'string' },
        domains: { type: 'string' },
        reuse: { type: 'boolean' },
        'latency-seconds': { type: 'string' },
        'latency-samples': { type: 'string' },
        'latency-rate': { type: 'string' },
        'queue-scale': { type: 'string' },
        'healthy-count': { type: 'string' },
        sink: { type: 'string' },
        'max-seconds': { type: 'string' },
        out: { type: 'string' },
        'cpu-profile': { type: 'boolean' },
      },
    }));
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
  const str = (name: string): string | undefined => {
    const v = values[name];
    return typeof v === 'string' ? v : undefined;
  };
  const queueScaleRaw = str('queue-scale');
  const scenarioRaw = str('scenario') ?? (queueScaleRaw !== undefined ? 'queue-scale' : 'all');
  const scenarios = new Set<Scenario>();
  for (const part of scenarioRaw.split(',').map((s) => s.trim())) {
    if (part === 'all') for (const s of ALL) scenarios.add(s);
    else if ((ORDER as readonly string[]).includes(part)) scenarios.add(part as Scenario);
    else throw new UsageError(`--scenario: unknown "${part}" (${ORDER.join(', ')}, all)`);
  }
  const sink = str('sink') ?? 'auto';
  if (sink !== 'auto' && sink !== 'postfix' && sink !== 'js')
    throw new UsageError(`--sink: expected auto, postfix or js, got "${sink}"`);
  const durationRaw = str('duration');
  const rateRaw = str('latency-rate');
  const withQueueScale = scenarios.has('queue-scale');
  return Object.freeze({
    help: values.help === true,
    scenarios: ORDER.filter((s) => scenarios.has(s)),
    count: int('count', str('count'), 20_000, 1, 1_000_000),
    ...(durationRaw !== undefined ? { durationSeconds: int('duration', durationRaw, 0, 1, 3600) } : {}),
    concurrency: int('concurrency', str('concurrency'), 32, 1, 1000),
    size: int('size', str('size'), 4096, 100, 10 * 1024 * 1024),
    domains: int('domains', str('domains'), 20, 1, 1000),
    reuse: values.reuse === true,
    latencySeconds: int('latency-seconds', str('latency-seconds'), 15, 1, 600),
    latencySamples: int('latency-samples', str('latency-samples'), 200, 1, 2000),
    ...(rateRaw !== undefined ? { latencyRate: int('latency-rate', rateRaw, 0, 1, 100_000) } : {}),
    queueScale: int('queue-scale', queueScaleRaw, withQueueScale ? 100_000 : 0, 1, 2_000_000),
    healthyCount: int('healthy-count', str('healthy-count'), 5000, 1, 1_000_000),
    sink,
    maxSeconds: int('max-seconds', str('max-seconds'), withQueueScale ? 3600 : 600, 10, 6 * 3600),
    outDir: str('out') ?? 'bench/out',
    cpuProfile: values['cpu-profile'] === true,
  });
}
