/**
 * /proc sampling of this very process and of the machine.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { Worker } from 'node:worker_threads';
import { MACHINE, onTmpfs, ProcSampler, readMachine, readProc, type ThreadSummary } from './proc-sampler.ts';

function burn(ms: number): void {
  const end = performance.now() + ms;
  let x = 0;
  while (performance.now() < end) x += Math.sqrt(x + 1);
  assert.ok(x > 0);
}

test('a reading of this process has CPU time and resident memory; a missing pid reads undefined', () => {
  const r = readProc(process.pid);
  assert.ok(r);
  assert.ok(r.cpuSeconds > 0);
  assert.ok(r.rssBytes > 10 * 1024 * 1024 && r.hwmBytes >= r.rssBytes);
  assert.equal(readProc(2 ** 22 + 12345), undefined);
  assert.ok((readMachine()?.cpuSeconds ?? 0) > 0);
});

test('a busy loop shows up as CPU in the window; an idle window shows little', async () => {
  const sampler = new ProcSampler(50);
  sampler.watch('machine', MACHINE);
  // `watch` takes the window's first sample; the last is the loop's. The process's own
  // CPU clock is read beside each, so the sampler must report what it saw between them.
  sampler.watch('me', process.pid);
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  for (let i = 0; i < 6; i++) {
    burn(50);
    sampler.sample();
  }
  const t1 = performance.now();
  const used = process.cpuUsage(cpu0);
  const busy = sampler.window('me', t0, t1);
  assert.ok(busy.samples >= 6);
  const clockPercent = ((used.user + used.system) / 1000 / (t1 - t0)) * 100;
  // One core spinning reads near 100 %, less when other work shares the CPUs; either way
  // the sampler agrees with the clock, within the kernel's 10 ms ticks at both ends.
  assert.ok(
    busy.cpuPercent > 5 && Math.abs(busy.cpuPercent - clockPercent) < 25,
    `busy ${busy.cpuPercent}, the process's clock ${clockPercent}`,
  );
  assert.ok(busy.peakRssBytes > 0);
  assert.ok(sampler.window('machine', t0, t1).cpuPercent >= busy.cpuPercent * 0.5);
  const i0 = performance.now();
  for (let i = 0; i < 4; i++) {
    await new Promise((resolve) => setTimeout(resolve, 60));
    sampler.sample();
  }
  const idle = sampler.window('me', i0, performance.now());
  assert.ok(idle.cpuPercent < busy.cpuPercent, `idle ${idle.cpuPercent} busy ${busy.cpuPercent}`);
  assert.equal(sampler.window('nobody', t0, t1).samples, 0);
});

const SPIN = `const end = performance.now() + 400; let x = 0; while (performance.now() < end) x += Math.sqrt(x + 1);`;

/**
 * Runs each snippet in a worker thread of the given name (about 400 ms each) while
 * `sampler` reads its process 'me' every 50 ms; returns their threads over that span
 * and the span itself.
 */
async function threadsWhileRunning(
  sampler: ProcSampler,
  workers: readonly (readonly [name: string, code: string])[],
): Promise<{ threads: ThreadSummary[]; from: number; to: number }> {
  const from = performance.now();
  const done = workers.map(
    ([name, code]) =>
      new Promise((resolve, reject) => {
        const worker = new Worker(code, { eval: true, name });
        worker.on('exit', resolve);
        worker.on('error', reject);
      }),
  );
  const ticker = setInterval(() => sampler.sample(), 50);
  // Sample while they run (a thread that has ended is no longer in /proc).
  await new Promise((resolve) => setTimeout(resolve, 350));
  clearInterval(ticker);
  sampler.sample();
  const to = performance.now();
  const threads = sampler.threadWindow('me', from, to);
  await Promise.all(done);
  return { threads, from, to };
}

test("a process's threads are read by name, with the kernel's part of their time", async () => {
  const sampler = new ProcSampler(50);
  sampler.watch('me', process.pid, { threads: true });
  // One thread spins in JavaScript, another mostly in system calls (reading a /proc file).
  const sys = `const { readFileSync } = require('node:fs'); const end = performance.now() + 400; while (performance.now() < end) readFileSync('/proc/self/status');`;
  const { threads, from } = await threadsWhileRunning(sampler, [
    ['bench-spin', SPIN],
    ['bench-sys', sys],
  ]);
  const byName = new Map(threads.map((t) => [t.name, t]));
  const spinner = byName.get('bench-spin');
  const caller = byName.get('bench-sys');
  assert.ok(spinner && caller, `threads seen: ${threads.map((t) => t.name).join(', ')}`);
  assert.ok(spinner.cpuPercent > 15, `spinner ${spinner.cpuPercent}`);
  assert.ok(spinner.systemPercent < spinner.cpuPercent / 2, `spinner system ${spinner.systemPercent}`);
  assert.ok(
    caller.systemPercent > spinner.systemPercent,
    `system: caller ${caller.systemPercent}, spinner ${spinner.systemPercent}`,
  );
  assert.deepEqual(
    threads.map((t) => t.cpuPercent),
    [...threads.map((t) => t.cpuPercent)].sort((a, b) => b - a),
    'busiest first',
  );
  assert.deepEqual(sampler.threadWindow('nobody', from, performance.now()), []);
});

test("a thread's sleeps and preemptions are counted, and the machine's context switches", async () => {
  const sampler = new ProcSampler(50);
  sampler.watch('me', process.pid, { threads: true });
  sampler.watch('machine', MACHINE);
  // One thread sleeps a millisecond at a time (a voluntary switch each). More threads
  // spin than there are CPUs, so the scheduler has to take some of them off theirs.
  const sleep = `const cell = new Int32Array(new SharedArrayBuffer(4)); const end = performance.now() + 400; while (performance.now() < end) Atomics.wait(cell, 0, 0, 1);`;
  const spinners = availableParallelism() + 1;
  const { threads, from, to } = await threadsWhileRunning(sampler, [
    ['bench-sleep', sleep],
    ...Array.from({ length: spinners }, () => ['bench-spin', SPIN] as const),
  ]);
  const byName = new Map(threads.map((t) => [t.name, t]));
  const sleeper = byName.get('bench-sleep');
  const spin = byName.get('bench-spin');
  assert.ok(sleeper && spin, `threads seen: ${threads.map((t) => t.name).join(', ')}`);
  // About 1,000 sleeps a second when the timer is kept; a loaded machine wakes it later.
  assert.ok(sleeper.sleepsPerSecond > 100, `sleeper ${sleeper.sleepsPerSecond} sleeps/s`);
  const spinnerSleeps = spin.sleepsPerSecond / spinners;
  assert.ok(
    sleeper.sleepsPerSecond > 10 * Math.max(1, spinnerSleeps),
    `sleeps/s: sleeper ${sleeper.sleepsPerSecond}, a spinner ${spinnerSleeps}`,
  );
  assert.ok(
    spin.preemptionsPerSecond > 50,
    `${spinners} spinners preempted ${spin.preemptionsPerSecond} times/s`,
  );
  const machine = sampler.window('machine', from, to).switchesPerSecond;
  assert.ok(machine !== undefined && machine >= sleeper.sleepsPerSecond, `machine ${machine} switches/s`);
  assert.equal(sampler.window('me', from, to).switchesPerSecond, undefined, 'a process has no machine count');
});

test("a thread's read and write system calls are counted, and the bytes it wrote towards the disk", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'mxpress-io-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const sampler = new ProcSampler(50);
  sampler.watch('me', process.pid, { threads: true });
  // One thread reads a /proc file over and over; one writes 4 KiB at a time to a file,
  // syncing every 16 writes; one only computes.
  const read = `const { readFileSync } = require('node:fs'); const end = performance.now() + 400; while (performance.now() < end) readFileSync('/proc/self/status');`;
  const write = `const fs = require('node:fs'); const fd = fs.openSync(${JSON.stringify(join(dir, 'out'))}, 'w'); const chunk = Buffer.alloc(4096, 120); const end = performance.now() + 400; for (let i = 1; performance.now() < end; i++) { fs.writeSync(fd, chunk); if (i % 16 === 0) fs.fsyncSync(fd); } fs.closeSync(fd);`;
  const { threads } = await threadsWhileRunning(sampler, [
    ['bench-read', read],
    ['bench-write', write],
    ['bench-spin', SPIN],
  ]);
  const io = (name: string) => {
    const thread = threads.find((x) => x.name === name);
    assert.ok(thread?.io, `${name}: ${JSON.stringify(thread)}`);
    return thread.io;
  };
  const reader = io('bench-read');
  const writer = io('bench-write');
  const spinner = io('bench-spin');
  assert.ok(
    reader.reads > 100 && reader.reads > 10 * Math.max(1, spinner.reads),
    `reads/s ${JSON.stringify({ reader, spinner })}`,
  );
  assert.ok(
    writer.writes > 100 && writer.writes > 10 * Math.max(1, spinner.writes),
    `writes/s ${JSON.stringify({ writer, spinner })}`,
  );
  assert.ok(writer.writes > reader.writes, `writes/s: writer ${writer.writes}, reader ${reader.writes}`);
  if (onTmpfs(dir)) t.diagnostic('temporary directory on tmpfs: no disk bytes to see');
  else assert.ok(writer.diskBytes > 100 * 4096, `writer sent ${writer.diskBytes} bytes/s towards the disk`);
});
