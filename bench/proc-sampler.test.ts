/**
 * /proc sampling of this very process and of the machine.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MACHINE, ProcSampler, readMachine, readProc } from './proc-sampler.ts';

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
  sampler.watch('me', process.pid);
  sampler.watch('machine', MACHINE);
  const t0 = performance.now();
  for (let i = 0; i < 6; i++) {
    burn(50);
    sampler.sample();
  }
  const t1 = performance.now();
  const busy = sampler.window('me', t0, t1);
  assert.ok(busy.samples >= 6);
  // One core spinning: close to 100 %, allowing for a shared machine and tick granularity.
  assert.ok(busy.cpuPercent > 40 && busy.cpuPercent < 130, `busy ${busy.cpuPercent}`);
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
