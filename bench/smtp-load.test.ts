/**
 * The load generator against the harness SMTP sink over real loopback sockets.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { DEFAULT_EXTENSIONS, type SmtpSink, startSmtpSink } from '../test/harness/smtp-sink.ts';
import { buildMessage, runLoad } from './smtp-load.ts';

let sink: SmtpSink;

before(async () => {
  sink = await startSmtpSink({ host: '127.0.0.1' });
});
after(() => sink.close());

const target = () => ({ host: sink.host, port: sink.port, size: 1000, domains: 3, timeoutMs: 5000 });

test('a message has about the asked size, CRLF lines under 998 octets and no leading dots', () => {
  const body = buildMessage(7, 'u7@d2.test', 4096).toString('latin1');
  assert.ok(body.length >= 4096 && body.length < 4096 + 80, `size ${body.length}`);
  assert.ok(body.endsWith('\r\n'));
  const lines = body.slice(0, -2).split('\r\n');
  assert.ok(lines.every((l) => l.length <= 998 && !l.startsWith('.') && !l.includes('\n')));
  assert.ok(lines.includes('To: <u7@d2.test>'));
});

test('new connection per message, pipelined, recipients spread over the domains', async () => {
  sink.setScript({});
  const first = sink.messages.length;
  const connectionsBefore = sink.connectionCount;
  const ids: string[] = [];
  const result = await runLoad({
    ...target(),
    concurrency: 4,
    count: 30,
    reuse: false,
    onAccepted: (id) => ids.push(id),
  });
  assert.equal(result.accepted, 30);
  assert.equal(result.failed, 0);
  assert.equal(result.attempted, 30);
  assert.equal(result.latenciesMs.length, 30);
  assert.ok(result.latenciesMs.every((ms) => ms >= 0 && ms < 5000));
  assert.equal(result.connections, 30);
  assert.equal(result.pipelining, true);
  assert.equal(ids.length, 30);
  const got = await sink.waitForMessages(first + 30);
  assert.equal(sink.connectionCount - connectionsBefore, 30);
  const domains = got.slice(first).map((m) => m.rcptTo[0]!.split('@')[1]);
  for (const d of ['d1.test', 'd2.test', 'd3.test']) assert.equal(domains.filter((x) => x === d).length, 10);
  const last = got[got.length - 1]!;
  assert.ok(last.body.length >= 1000);
  assert.deepEqual(
    sink.transcript(last.connectionId).map((l) => l.split(' ')[0]),
    ['EHLO', 'MAIL', 'RCPT', 'DATA', 'QUIT'],
  );
});

test('--reuse keeps one connection per loop', async () => {
  sink.setScript({});
  const before = sink.connectionCount;
  const result = await runLoad({ ...target(), concurrency: 3, count: 30, reuse: true });
  assert.equal(result.accepted, 30);
  assert.equal(result.connections, 3);
  assert.equal(sink.connectionCount - before, 3);
});

test('refused messages are counted by reply and the run goes on; no PIPELINING means one command at a time', async () => {
  sink.setScript({
    extensions: DEFAULT_EXTENSIONS.filter((e) => e !== 'PIPELINING'),
    onRcpt: (to) =>
      to.startsWith('u4@') || to.startsWith('u9@') ? '550 5.1.1 No such user here' : undefined,
  });
  const result = await runLoad({ ...target(), concurrency: 2, count: 12, reuse: true });
  assert.equal(result.pipelining, false);
  assert.equal(result.accepted, 10);
  assert.equal(result.failed, 2);
  assert.deepEqual(result.errors, { '550 5.1.1 No such user here': 2 });
});

test('a reply that never comes fails the message after the timeout', async () => {
  sink.setScript({ stallInData: true });
  const result = await runLoad({ ...target(), concurrency: 1, count: 1, reuse: false, timeoutMs: 300 });
  assert.equal(result.accepted, 0);
  assert.deepEqual(result.errors, { ETIMEOUT: 1 });
});

test('a rate limit spaces messages out and a duration stops issuing', async () => {
  sink.setScript({});
  const limited = await runLoad({ ...target(), concurrency: 4, count: 20, reuse: true, ratePerSecond: 50 });
  assert.equal(limited.accepted, 20);
  // 20 slots 20 ms apart: the last one starts 380 ms after the first.
  assert.ok(limited.endedAt - limited.startedAt >= 375, `took ${limited.endedAt - limited.startedAt} ms`);
  const timed = await runLoad({
    ...target(),
    concurrency: 2,
    count: 1000,
    reuse: true,
    ratePerSecond: 20,
    durationMs: 300,
  });
  // Slots at 0, 50, ..., 250 ms fall inside 300 ms; a late timer can only make it fewer.
  assert.ok(timed.attempted >= 1 && timed.attempted <= 6, `attempted ${timed.attempted}`);
  assert.equal(timed.accepted, timed.attempted);
});

test('only loopback targets and sources are accepted', async () => {
  await assert.rejects(
    runLoad({ ...target(), host: '192.0.2.1', concurrency: 1, count: 1, reuse: false }),
    /loopback/,
  );
  await assert.rejects(
    runLoad({ ...target(), concurrency: 1, count: 1, reuse: false, localAddresses: ['10.0.0.1'] }),
    /loopback/,
  );
});
