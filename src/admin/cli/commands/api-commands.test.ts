/**
 * Tests for `mxpress status`, `mxpress queue` and `mxpress tail`, run through
 * main() in-process against a real HTTP API on 127.0.0.1 (real spool, acceptor
 * and event bus; outcomes stored the way the queue stores them): the views, the
 * actions, following events until Ctrl-C, terminal-escape cleaning, colors only
 * on a TTY, and the exit codes for usage errors, unknown messages, malformed ids
 * and an unreachable API (69, naming the address). One run goes through the real
 * binary to prove the commands are registered.
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { LifecycleEvent } from '../../../contracts/events.ts';
import type { Attempt } from '../../../contracts/status.ts';
import { startTestApi, type TestApi } from '../../http-api/api-testkit.ts';
import { main } from '../main.ts';
import { fakeIo, runCli } from '../test-helpers.ts';
import { eventLine } from './tail.ts';

let api: TestApi;
let id: string;

function accept(to: string[], subject = 'cli test'): Promise<string> {
  return api.accept({ from: 'sender@example.test', to, subject });
}

function attempt(outcome: Attempt['outcome'], code: number, enhanced: string, text: string): Attempt {
  return {
    at: Date.now(),
    durationMs: 42,
    mxHost: 'mx.example.test',
    ip: '127.0.0.2',
    route: 'direct',
    outcome,
    reply: { code, enhanced, text },
  };
}

before(async () => {
  api = await startTestApi();
  id = await accept(['ok@example.test', 'gone@example.test', 'later@example.test'], 'Quarterly report');
  const evil = 'No such user\x1b[2J\x1b]0;pwned\x07 here';
  await api.spool.update([
    {
      messageId: id,
      index: 0,
      status: 'delivered',
      attempt: attempt('delivered', 250, '2.0.0', 'Ok queued'),
    },
    {
      messageId: id,
      index: 1,
      status: 'bounced',
      attempt: attempt('failed', 550, '5.1.1', evil),
      lastReply: { code: 550, enhanced: '5.1.1', text: evil },
    },
    {
      messageId: id,
      index: 2,
      status: 'deferred',
      nextAttemptAt: Date.now() + 3_600_000,
      attempt: attempt('deferred', 452, '4.2.2', 'Mailbox full'),
      lastReply: { code: 452, enhanced: '4.2.2', text: 'Mailbox full' },
    },
  ]);
});
after(async () => {
  await api.close();
});

async function cli(args: string[], env: Record<string, string> = {}, tty = false) {
  const io = fakeIo({ cwd: '/', env: { MXPRESS_API: api.base, ...env } });
  if (tty) Object.assign(io.stdout, { isTTY: true });
  const code = await main(args, io);
  return { code, out: io.out(), err: io.err() };
}

/** A loopback port nobody listens on. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('mxpress status', () => {
  it('shows each recipient with status, tries, last reply and the explanation', async () => {
    const r = await cli(['status', id]);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, new RegExp(`^Message ${id} from <sender@example\\.test>`));
    assert.match(r.out, /Subject: Quarterly report/);
    assert.match(r.out, /RECIPIENT\s+STATUS\s+TRIES\s+LAST REPLY/);
    assert.match(r.out, /ok@example\.test\s+delivered\s+1\s+250 2\.0\.0 Ok queued/);
    assert.match(r.out, /gone@example\.test\s+bounced\s+1\s+550 5\.1\.1 No such user/);
    assert.match(r.out, /why: hard: The mailbox does not exist\./);
    assert.match(r.out, /later@example\.test\s+deferred\s+1\s+452 4\.2\.2 Mailbox full/);
    assert.match(r.out, /next attempt: \d{4}-/);
    assert.ok(!/\x1b|\x07/.test(r.out), 'remote text cannot send terminal escapes');
    assert.ok(!r.out.includes('#1'), 'attempts only with --attempts');
    const withAttempts = await cli(['status', id, '--attempts']);
    assert.match(
      withAttempts.out,
      /#1 \S+ failed via direct mx\.example\.test \[127\.0\.0\.2\] 42ms: 550 5\.1\.1/,
    );
  });

  it('--json prints the API answer; colors only on a terminal without NO_COLOR', async () => {
    const json = await cli(['status', id, '--json']);
    assert.equal(JSON.parse(json.out).id, id);
    const tty = await cli(['status', id], {}, true);
    assert.match(tty.out, /\x1b\[32mdelivered/);
    const noColor = await cli(['status', id], { NO_COLOR: '1' }, true);
    assert.ok(!noColor.out.includes('\x1b['));
  });

  it('exit codes: 1 unknown, 65 malformed id, 64 usage, 69 unreachable with the address', async () => {
    const unknown = await cli(['status', '01AAAAAAAAAAAAAAAAAAAAAAAA']);
    assert.equal(unknown.code, 1);
    assert.match(unknown.err, /404: id: no message/);
    const malformed = await cli(['status', 'nope']);
    assert.equal(malformed.code, 65);
    assert.match(malformed.err, /400: id: /);
    assert.equal((await cli(['status'])).code, 64);
    assert.equal((await cli(['status', id, '--bogus'])).code, 64);
    assert.equal((await cli(['status', id, '--api', 'ftp://x'])).code, 64);
    const port = await closedPort();
    const down = await cli(['status', id, '--api', `http://127.0.0.1:${port}`]);
    assert.equal(down.code, 69);
    assert.match(
      down.err,
      new RegExp(`cannot reach the mxpress API at http://127\\.0\\.0\\.1:${port} \\(ECONNREFUSED\\)`),
    );
  });
});

describe('mxpress queue', () => {
  it('list pages and filters; show matches status', async () => {
    const second = await accept(['x@other.test'], 'second');
    const all = await cli(['queue', 'list']);
    assert.equal(all.code, 0, all.err);
    assert.match(all.out, /ID\s+RECEIVED\s+FROM\s+SUBJECT\s+RECIPIENTS/);
    assert.ok(all.out.indexOf(second) < all.out.indexOf(id), 'newest first');
    assert.match(all.out, /1 delivered, 1 bounced, 1 deferred/);
    const page = await cli(['queue', 'list', '--limit', '1']);
    const cursor = /--cursor (\S+)/.exec(page.out)?.[1];
    assert.ok(cursor, page.out);
    const next = await cli(['queue', 'list', '--limit', '1', '--cursor', cursor]);
    assert.match(next.out, new RegExp(id));
    assert.ok(!next.out.includes(second));
    const filtered = await cli(['queue', 'list', '--status', 'bounced', '--json']);
    assert.deepEqual(
      JSON.parse(filtered.out).messages.map((m: { id: string }) => m.id),
      [id],
    );
    const bad = await cli(['queue', 'list', '--status', 'lost']);
    assert.equal(bad.code, 65);
    assert.match(bad.err, /status: /);
    const show = await cli(['queue', 'show', id]);
    assert.equal(show.out, (await cli(['status', id])).out);
    assert.equal((await cli(['queue', 'list', '--attempts'])).code, 64);
    assert.equal((await cli(['queue', 'frobnicate', id])).code, 64);
    assert.equal((await cli(['queue', 'retry'])).code, 64);
  });

  it('hold, retry, release and cancel report what changed', async () => {
    const target = await accept(['a@example.test', 'b@example.test']);
    const hold = await cli(['queue', 'hold', target]);
    assert.equal(hold.out, 'hold: 2 recipients changed\n');
    assert.equal(
      (await cli(['queue', 'retry', target])).out,
      'retry: 0 recipients changed (nothing pending)\n',
    );
    assert.equal((await cli(['queue', 'release', target])).out, 'release: 2 recipients changed\n');
    const pokes = api.pokes();
    assert.equal((await cli(['queue', 'retry', target])).out, 'retry: 2 recipients changed\n');
    assert.equal(api.pokes(), pokes + 1, 'retry wakes the queue');
    const cancel = await cli(['queue', 'cancel', target, '--json']);
    assert.deepEqual(JSON.parse(cancel.out), { id: target, action: 'cancel', changed: 2, inFlight: 0 });
    const stored = await api.spool.getMessage(target);
    assert.deepEqual(
      stored?.recipients.map((r) => r.status),
      ['cancelled', 'cancelled'],
    );
    assert.equal((await cli(['queue', 'cancel', '01AAAAAAAAAAAAAAAAAAAAAAAA'])).code, 1);
  });

  it('cancel says when a recipient was being delivered at that moment', async () => {
    const busy = await accept(['busy@example.test', 'idle@example.test']);
    // Lease what is due (as the queue does before delivering), then keep only busy@ leased.
    const claimed = await api.spool.claimDue({
      owner: 'cli-test',
      now: Date.now(),
      limit: 1000,
      leaseMs: 60_000,
    });
    await api.spool.release(
      'cli-test',
      claimed.filter((c) => c.messageId !== busy || c.index !== 0),
    );
    const cancel = await cli(['queue', 'cancel', busy]);
    assert.equal(
      cancel.out,
      'cancel: 2 recipients changed\n' +
        '1 of them was being delivered: if the receiving server accepts it, it shows as delivered\n',
    );
  });
});

describe('mxpress tail', () => {
  it('says when a cancel caught a delivery in flight', () => {
    const io = fakeIo({ cwd: '/', env: {} });
    const data = (inFlight?: true) =>
      JSON.stringify({ type: 'cancelled', seq: 9, at: 0, messageId: 'M1', recipient: 'a@b.test', inFlight });
    assert.match(
      eventLine({ event: 'cancelled', data: data(true) }, io),
      /cancelled\s+M1 {2}a@b\.test \(a delivery was under way and may still arrive\)$/,
    );
    assert.match(eventLine({ event: 'cancelled', data: data() }, io), /cancelled\s+M1 {2}a@b\.test$/);
  });

  it('prints one line per event, filtered, until Ctrl-C', async () => {
    const io = fakeIo({ cwd: '/', env: { MXPRESS_API: api.base } });
    const output = watchOutput(io);
    // --since makes the start race-free: whatever is stored after it is replayed or live.
    const running = main(['tail', '--types', 'received,bounced', '--since', String(await lastSeq(api))], io);
    const fresh = await accept(['tail@example.test'], 'tailed');
    const bounce: LifecycleEvent = {
      type: 'bounced',
      seq: 0,
      at: Date.now(),
      messageId: fresh,
      recipient: 'tail@example.test',
      reply: { code: 550, enhanced: '5.1.1', text: 'gone\x1b[31m' },
    };
    const ignored: LifecycleEvent = {
      type: 'cancelled',
      seq: 0,
      at: Date.now(),
      messageId: fresh,
      recipient: 'x@y.test',
    };
    // Stored, the spool publishes them to the stream.
    await api.spool.update([], [ignored, bounce]);
    await output.until(/bounced/);
    io.signal('SIGINT');
    assert.equal(await running, 0);
    const lines = io.out().trim().split('\n');
    assert.equal(lines.length, 2, io.out());
    assert.match(
      lines[0]!,
      new RegExp(`^\\d{4}-\\S+Z  received\\s+${fresh}  from <sender@example\\.test> to tail@example\\.test`),
    );
    assert.match(lines[1]!, new RegExp(`  bounced\\s+${fresh}  tail@example\\.test: 550 5\\.1\\.1 gone`));
    assert.ok(!io.out().includes('\x1b'));
  });

  it('--json and --since replay stored events; 64 for a bad --since; 69 when unreachable', async () => {
    const io = fakeIo({ cwd: '/', env: { MXPRESS_API: api.base } });
    const output = watchOutput(io);
    const running = main(['tail', '--since', '0', '--json', '--message', id], io);
    await output.until(/\n/);
    io.signal('SIGTERM');
    assert.equal(await running, 0);
    const first = JSON.parse(io.out().split('\n')[0]!);
    assert.equal(first.type, 'received');
    assert.equal(first.messageId, id);
    assert.equal((await cli(['tail', '--since', 'yesterday'])).code, 64);
    const port = await closedPort();
    const down = await cli(['tail', '--api', `http://127.0.0.1:${port}`]);
    assert.equal(down.code, 69);
    assert.match(down.err, /cannot reach the mxpress API at http:\/\/127\.0\.0\.1:\d+ \(ECONNREFUSED\)/);
  });

  it('when the server goes away, tail names the last seq and exits 69', async () => {
    const lonely = await startTestApi();
    const io = fakeIo({ cwd: '/', env: { MXPRESS_API: lonely.base } });
    const output = watchOutput(io);
    const running = main(['tail', '--since', '0'], io);
    const cancelled: LifecycleEvent = {
      type: 'cancelled',
      seq: 0,
      at: Date.now(),
      messageId: 'M',
      recipient: 'a@b.test',
    };
    const { events: stored } = await lonely.spool.update([], [cancelled]);
    await output.until(/cancelled/);
    await lonely.close();
    assert.equal(await running, 69);
    assert.match(
      io.err(),
      new RegExp(`last event seen: ${stored[0]!.seq}; resume with --since ${stored[0]!.seq}`),
    );
  });
});

describe('registration', () => {
  it('the binary knows status, tail and queue', async () => {
    const help = await runCli(['--help'], { cwd: '/' });
    for (const word of ['status', 'tail', 'queue']) assert.match(help.stdout, new RegExp(`\\n  ${word} `));
    const port = await closedPort();
    const r = await runCli(['queue', 'list'], { cwd: '/', env: { MXPRESS_API: `http://127.0.0.1:${port}` } });
    assert.equal(r.code, 69, r.stderr);
  });
});

async function lastSeq(target: TestApi): Promise<number> {
  let seq = 0;
  for (;;) {
    const page = await target.spool.eventsSince(seq, 1000);
    if (page.length === 0) return seq;
    seq = page.at(-1)!.seq;
  }
}

/** Wakes waiters whenever the command writes to stdout; `until` has a 10 s limit. */
function watchOutput(io: ReturnType<typeof fakeIo>): { until(pattern: RegExp): Promise<void> } {
  const waiters = new Set<() => void>();
  const write = io.stdout.write.bind(io.stdout);
  Object.assign(io.stdout, {
    write(text: string) {
      write(text);
      for (const wake of [...waiters]) wake();
      return true;
    },
  });
  return {
    until(pattern) {
      return new Promise((resolve, reject) => {
        const check = (): void => {
          if (!pattern.test(io.out())) return;
          waiters.delete(check);
          clearTimeout(timer);
          resolve();
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`no ${pattern} in output: ${io.out()}`));
        }, 10_000);
        waiters.add(check);
        check();
      });
    },
  };
}
