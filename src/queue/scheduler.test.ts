/**
 * The scheduler over a real SQLite spool, with a scripted engine standing in for the
 * network: it holds every job until all have arrived, then answers them in the same
 * turn, so the jobs of one message settle concurrently. What is tested is the
 * scheduler's decision of when a failure report is due and how many go out.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { it } from 'node:test';
import type { LifecycleEvent } from '../contracts/events.ts';
import type { DeliveryJob, RecipientOutcome } from '../delivery/job.ts';
import { makeMessage } from '../spool/conformance-fixtures.ts';
import { createSqliteSpool } from '../spool/sqlite/index.ts';
import type { DeliveryReport } from './reports.ts';
import { Scheduler } from './scheduler.ts';

/** An engine that answers `expected` jobs together, each recipient with `kind`. */
function concurrentEngine(expected: number, kind: RecipientOutcome['kind']) {
  const waiting: { job: DeliveryJob; resolve: (outcomes: RecipientOutcome[]) => void }[] = [];
  const answer = (job: DeliveryJob): RecipientOutcome[] =>
    job.recipients.map((r) => ({
      index: r.index,
      address: r.address,
      kind,
      reply:
        kind === 'failed'
          ? { code: 550, enhanced: '5.1.1', text: 'No such user here' }
          : { code: 250, enhanced: '2.0.0', text: 'Ok' },
      scope: kind === 'failed' ? 'recipient' : 'none',
      route: 'direct',
    }));
  return {
    jobs: waiting,
    deliver(job: DeliveryJob): Promise<RecipientOutcome[]> {
      return new Promise((resolve) => {
        waiting.push({ job, resolve });
        if (waiting.length === expected) for (const w of waiting) w.resolve(answer(w.job));
      });
    },
    backedOffUntil: () => 0,
    queuedFor: () => 0,
    busyDomains: () => new Set<string>(),
  };
}

async function run(
  to: string[],
  kind: RecipientOutcome['kind'],
  check: (reports: DeliveryReport[], events: LifecycleEvent[]) => void,
): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'mxpress-scheduler-'));
  const events: LifecycleEvent[] = [];
  const spool = createSqliteSpool({
    dataDir: join(dir, 'data'),
    onStored: (stored) => events.push(...stored),
  });
  await spool.open();
  const reports: DeliveryReport[] = [];
  const domains = new Set(to.map((a) => a.slice(a.indexOf('@') + 1))).size;
  const engine = concurrentEngine(domains, kind);
  const scheduler = new Scheduler({
    spool,
    engine,
    owner: 'test',
    policy: { intervalsMs: [1000], maxQueueTimeMs: 60_000 },
    onReport: async (report) => {
      reports.push(report);
    },
    now: Date.now,
    log: () => {},
    pollMs: 50,
  });
  try {
    const message = makeMessage({ to, receivedAt: Date.now() - 1000 });
    await spool.commit(message);
    scheduler.start();
    const deadline = Date.now() + 5000;
    while (events.filter((e) => e.messageId === message.id).length < to.length) {
      if (Date.now() > deadline) throw new Error(`only ${events.length} outcomes recorded`);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal(engine.jobs.length, domains, 'one job per domain, all in flight together');
    check(reports, events);
  } finally {
    await scheduler.stop(1000);
    await spool.close();
    await rm(dir, { recursive: true, force: true });
  }
}

it('sends exactly one failure report when the jobs of one message fail at the same moment', async () => {
  await run(['a@one.test', 'b@two.test', 'c@three.test'], 'failed', (reports) => {
    assert.equal(reports.length, 1, `${reports.length} reports`);
    assert.deepEqual(
      reports[0]!.recipients.map((r) => r.address),
      ['a@one.test', 'b@two.test', 'c@three.test'],
    );
    assert.ok(reports[0]!.original, 'the report returns the original message');
  });
});

it('sends no report when the jobs of one message all deliver at the same moment', async () => {
  await run(['a@one.test', 'b@two.test'], 'delivered', (reports) => {
    assert.equal(reports.length, 0);
  });
});
