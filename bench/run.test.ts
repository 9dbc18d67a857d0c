/**
 * `npm run bench` as a whole, small: a real run writes a complete report, and
 * an interrupted run leaves no child process behind.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { onTmpfs } from './proc-sampler.ts';

const RUN = fileURLToPath(new URL('./run.ts', import.meta.url));
const out = mkdtempSync(join(tmpdir(), 'mxpress-bench-test-'));
after(() => rmSync(out, { recursive: true, force: true }));

function bench(args: readonly string[]): { child: ChildProcess; stderr: () => string; stdout: () => string } {
  const child = spawn(process.execPath, [RUN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  let stdout = '';
  child.stderr?.on('data', (c: Buffer) => {
    stderr += c.toString();
  });
  child.stdout?.on('data', (c: Buffer) => {
    stdout += c.toString();
  });
  return { child, stderr: () => stderr, stdout: () => stdout };
}

async function exitCode(child: ChildProcess, timeoutMs: number): Promise<number | null> {
  const [code] = (await once(child, 'exit', { signal: AbortSignal.timeout(timeoutMs) })) as [number | null];
  return code;
}

/**
 * The long-lived children of `pid` (from /proc) with their argv: node
 * processes and smtp-sink. Short helpers the run execs for a moment (getconf,
 * sh, git) are left out, and so is any child that exits while being read.
 */
function childrenOf(pid: number): { pid: number; argv: string[] }[] {
  const found: { pid: number; argv: string[] }[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'latin1');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid !== pid) continue;
      const argv = readFileSync(`/proc/${name}/cmdline`, 'latin1').split('\0');
      if (/(^|\/)(node|smtp-sink)$/.test(argv[0] ?? '')) found.push({ pid: Number(name), argv });
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

/** Runs the bench with `args` (output under `out`, at most 150 s), which must exit 0; its report and where it went. */
async function benchReport(
  args: readonly string[],
): Promise<{ report: ReturnType<typeof JSON.parse>; dir: string; stdout: string }> {
  const run = bench([...args, '--out', out, '--max-seconds', '150']);
  assert.equal(await exitCode(run.child, 170_000), 0, run.stderr());
  const dir = /report: (.*)\/report\.json/.exec(run.stdout())?.[1] ?? '';
  assert.ok(dir.startsWith(out), run.stdout());
  return { report: JSON.parse(readFileSync(join(dir, 'report.json'), 'utf8')), dir, stdout: run.stdout() };
}

/** mxpress's CPU by thread names its three threads. */
function assertThreeThreads(figures: { threads: { thread: string }[] }): void {
  const threads = figures.threads.map((t) => t.thread);
  for (const thread of ['SMTP ingress', 'spool', 'main'])
    assert.ok(threads.includes(thread), threads.join(', '));
}

test('--help prints the usage; a bad option exits 64', async () => {
  const help = bench(['--help']);
  assert.equal(await exitCode(help.child, 20_000), 0);
  assert.match(help.stdout(), /^Usage: npm run bench/);
  const bad = bench(['--count', '0']);
  assert.equal(await exitCode(bad.child, 20_000), 64);
  assert.match(bad.stderr(), /--count: expected a whole number/);
});

test('a small run of the ceiling and all three scenarios writes report.json and throughput.svg', async () => {
  const { report, dir, stdout } = await benchReport([
    '--count',
    '300',
    '--concurrency',
    '8',
    '--domains',
    '4',
    '--latency-seconds',
    '2',
    '--latency-samples',
    '20',
  ]);
  assert.deepEqual(report.errors, {});
  const { ceiling, accept, e2e, latency } = report.results;
  // The ceiling: the same 300 messages straight to the sink, all counted there.
  assert.equal(ceiling.sent, 300);
  assert.equal(ceiling.allCounted, true);
  assert.ok(ceiling.perSecond > 0);
  assert.equal(
    report.shareOfCeiling.delivered,
    Math.round((e2e.deliveredPerSecond / ceiling.perSecond) * 100) / 100,
  );
  assert.equal(accept.accepted, 300);
  assert.ok(accept.acceptedPerSecond > 0);
  assert.ok(accept.commitGroups.groups > 0 && accept.commitGroups.items >= 300);
  assert.ok(accept.mxpress.peakRssMiB > 10);
  assertThreeThreads(accept.mxpress);
  assertThreeThreads(e2e.mxpress);
  assert.equal(e2e.delivered, 300);
  assert.equal(e2e.allDelivered, true);
  assert.ok(e2e.messagesPerConnection >= 1);
  // Every message through the live event stream when the server has one, else a polled sample.
  assert.equal(latency.sampled, latency.deliveryTiming === 'polling a sample' ? 20 : latency.accepted);
  assert.equal(latency.acceptToDeliveredMs.count + latency.undelivered, latency.sampled);
  assert.ok(latency.acceptToDeliveredMs.count > 0);
  assert.ok(latency.targetRate > 0 && latency.achievedRate > 0);
  const accepted = report.timeline.acceptedPerSecond.reduce((a: number, b: number) => a + b, 0);
  assert.ok(latency.warmup.accepted > 0);
  assert.equal(accepted, 300 + 300 + latency.warmup.accepted + latency.accepted);
  assert.match(
    readFileSync(join(dir, 'throughput.svg'), 'utf8'),
    /^<svg [^>]*>[\s\S]*<polyline[\s\S]*<\/svg>\n$/,
  );
  assert.match(
    stdout,
    /ceiling \(the same load[\s\S]*accept \(durable commits\)[\s\S]*share of the ceiling +[\d.]+\n[\s\S]*e2e[\s\S]*share of the ceiling[\s\S]*latency/,
  );
  // Threads are listed by CPU used, so the ingress thread can come first or later.
  assert.match(
    stdout,
    /mxpress by thread +(?:\S.*, )?SMTP ingress [\d.]+ \(system [\d.]+\)(?:, .*)? ms CPU per message/,
  );
  // How often each thread slept or was preempted, and the machine's context switches.
  assert.match(
    stdout,
    /mxpress switches +(?:\S.*; )?SMTP ingress [\d.]+ slept, [\d.]+ preempted(?:; .*)? per message/,
  );
  assert.match(stdout, /machine +[\d.]+% CPU busy.*; [\d.]+ context switches per message/);
  // Read and write system calls by thread; the spool's bytes to disk, unless on tmpfs.
  assert.match(
    stdout,
    /mxpress system calls +(?:\S.*; )?SMTP ingress [\d.]+ reads, [\d.]+ writes(?:, [\d.]+ KiB to disk)?(?:; .*)? per message/,
  );
  const ioOf = (thread: string) =>
    (e2e.mxpress.threads as { thread: string; io?: Record<string, number> }[]).find(
      (t) => t.thread === thread,
    )?.io;
  const [ingressIo, spoolIo] = [ioOf('SMTP ingress'), ioOf('spool')];
  assert.ok(
    ingressIo && ingressIo.readsPerSecond! > 0 && ingressIo.writesPerSecond! > 0,
    JSON.stringify(ingressIo),
  );
  assert.ok(spoolIo && spoolIo.writesPerSecond! > 0, JSON.stringify(spoolIo));
  // The bench makes mxpress's data dirs in the temporary directory.
  if (!onTmpfs(tmpdir()))
    assert.ok(spoolIo.diskBytesPerSecond! > e2e.deliveredPerSecond * 4096, JSON.stringify(spoolIo));
  for (const figures of [accept.mxpress, e2e.mxpress]) {
    const ingress = (figures.threads as { thread: string; sleepsPerSecond: number }[]).find(
      (t) => t.thread === 'SMTP ingress',
    );
    assert.ok(ingress !== undefined && ingress.sleepsPerSecond > 0, JSON.stringify(figures.threads));
  }
  assert.ok(accept.machine.switchesPerSecond > 0);
});

test('a small queue-scale run: the backlog survives the restart, and every healthy run has its CPU by thread', async () => {
  const { report, stdout } = await benchReport([
    '--queue-scale',
    '1500',
    '--healthy-count',
    '300',
    '--concurrency',
    '8',
    '--domains',
    '4',
  ]);
  const q = report.results.queueScale;
  assert.equal(q.fill.accepted, 1500);
  assert.equal(q.fill.deferred, 1500);
  assert.equal(q.deferredAfterRestart, 1500);
  assert.ok(q.restartSeconds > 0);
  // The same 300 healthy messages delivered three times: before the fill, beside the
  // backlog after the restart, and on a fresh server after; each with mxpress's threads.
  for (const healthy of [q.healthyWithoutBacklog, q.healthy, q.healthyFreshAfter]) {
    assert.equal(healthy.delivered, 300);
    assert.ok(healthy.deliveredPerSecond > 0);
    assertThreeThreads(healthy.mxpress);
    assert.ok(healthy.mxpress.cpuPercent > 0);
  }
  assert.match(
    stdout,
    /mxpress, no backlog +[\d.]+ \/ [\d.]+ ms CPU per message \(fresh server before \/ after\)/,
  );
  assert.match(
    stdout,
    /by thread, no backlog +(?:\S.*, )?SMTP ingress [\d.]+ \/ [\d.]+(?:, .*)? ms CPU per message/,
  );
  // Searches through the API beside the backlog find exactly what the load sent.
  assert.equal(q.searches.oldestRecipient.found, 1);
  assert.equal(q.searches.absentRecipient.found, 0);
  assert.equal(q.searches.senderPage.found, 50);
  assert.match(stdout, /search beside backlog +oldest recipient [\d.]+ ms, then [\d.]+ ms \(1 found\)/);
});

test('--cpu-profile writes a CPU profile of each mxpress thread next to the report', async () => {
  const run = bench([
    '--scenario',
    'accept',
    '--count',
    '200',
    '--concurrency',
    '4',
    '--out',
    out,
    '--cpu-profile',
  ]);
  assert.equal(await exitCode(run.child, 120_000), 0, run.stderr());
  const dir = /profiles: \d+ \.cpuprofile files in (\S+)/.exec(run.stdout())?.[1] ?? '';
  assert.ok(dir.startsWith(out), run.stdout());
  const files = readdirSync(dir).filter((f) => f.endsWith('.cpuprofile'));
  assert.ok(files.length >= 2, `main thread and spool worker: ${files.join(', ')}`);
  const urls = new Set<string>();
  for (const file of files) {
    const profile = JSON.parse(readFileSync(join(dir, file), 'utf8')) as {
      nodes: { callFrame: { url: string } }[];
      samples: number[];
    };
    assert.ok(profile.samples.length > 0, file);
    for (const node of profile.nodes) urls.add(node.callFrame.url);
  }
  const has = (path: string) => [...urls].some((u) => u.endsWith(path));
  assert.ok(has('src/ingress/smtp/session.ts'), 'the SMTP session ran in a profiled thread');
  assert.ok(has('src/spool/sqlite/worker.ts'), 'so did the spool worker');
});

test('SIGINT stops the run and every child process it started', async () => {
  const run = bench(['--scenario', 'e2e', '--count', '200000', '--out', out, '--max-seconds', '120']);
  const pid = run.child.pid!;
  const dataDirsOf = (kids: { argv: string[] }[]) =>
    kids.flatMap(({ argv }) => {
      const at = argv.indexOf('--data-dir');
      return at >= 0 ? [argv[at + 1]!] : [];
    });
  // Wait (bounded) until the reaper, DNS, sink and mxpress children all run. A child
  // caught between fork and exec still shows the bench's own command line, so mxpress
  // counts once its own (with --data-dir) shows.
  const deadline = performance.now() + 30_000;
  let kids = childrenOf(pid);
  while ((kids.length < 4 || dataDirsOf(kids).length === 0) && performance.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    kids = childrenOf(pid);
  }
  assert.equal(kids.length, 4, `children: ${kids.map((k) => k.argv.join(' ')).join('; ')}; ${run.stderr()}`);
  const dataDirs = dataDirsOf(kids);
  assert.equal(dataDirs.length, 1, `children: ${kids.map((k) => k.argv.join(' ')).join('; ')}`);
  run.child.kill('SIGINT');
  assert.equal(await exitCode(run.child, 30_000), 130);
  const left = kids
    .map((k) => k.pid)
    .filter((k) => existsSync(`/proc/${k}`) && !readFileSync(`/proc/${k}/stat`, 'latin1').includes(') Z'));
  assert.deepEqual(left, []);
  assert.equal(existsSync(dataDirs[0]!), false, 'the data dir is removed');
});
