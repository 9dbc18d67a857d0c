/**
 * The benchmark's child processes over real loopback sockets: the DNS child's
 * zone (asked through mxpress's own resolver), both sinks counting what the
 * load generator sends, the reaper, and parsing mxpress's real start banner.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { formatBanner } from '../src/admin/cli/banner.ts';
import { loadConfig } from '../src/config/load.ts';
import { createResolver } from '../src/delivery/dns/resolver.ts';
import { Children, exited, waitMessage } from './children.ts';
import { parseBanner } from './server-process.ts';
import { postfixSinkAvailable, startSink } from './sinks.ts';
import { runLoad } from './smtp-load.ts';

let children: Children;

before(async () => {
  children = await Children.start();
});
after(() => children.stopAll());

const load = (port: number, host: string, count: number) =>
  runLoad({ host, port, concurrency: 2, count, size: 500, domains: 2, reuse: false, timeoutMs: 5000 });

test('the DNS child serves MX for d1..dN.test at 127.0.0.2 and defer.test at 127.0.0.3', async () => {
  const dns = children.fork('./dns-child.ts', ['3']);
  const { address } = await waitMessage<{ address: string }>(dns, 'ready', 10_000);
  const resolver = createResolver({ servers: [address], timeoutMs: 2000, cacheMaxEntries: 0 });
  const d3 = await resolver.resolveMx('d3.test');
  assert.equal(d3.kind, 'ok');
  assert.deepEqual(d3.kind === 'ok' ? d3.targets.map((t) => [t.host, t.addresses]) : [], [
    ['mx.d3.test', ['127.0.0.2']],
  ]);
  const defer = await resolver.resolveMx('defer.test');
  assert.deepEqual(defer.kind === 'ok' ? defer.targets[0]?.addresses : [], ['127.0.0.3']);
  assert.equal((await resolver.resolveMx('d4.test')).kind, 'nxdomain');
  await children.stop(dns);
  assert.ok(exited(dns));
});

test('the JS sink counts deliveries and reports them per domain', async () => {
  const sink = await startSink(children, { host: '127.0.0.2', mode: 'accept', prefer: 'js' });
  assert.equal(sink.kind, 'harness JS sink');
  const result = await load(sink.port, sink.host, 10);
  assert.equal(result.accepted, 10);
  assert.ok((await sink.waitForCount(10, 5000)) !== undefined, `count ${sink.count()}`);
  assert.equal(sink.count(), 10);
  assert.ok(sink.observations.length >= 1);
  assert.deepEqual(
    (await sink.perDomain())?.sort((a, b) => a.domain.localeCompare(b.domain)),
    [
      { domain: 'd1.test', messages: 5, connections: 5 },
      { domain: 'd2.test', messages: 5, connections: 5 },
    ],
  );
  assert.equal(await sink.waitForCount(11, 50), undefined);
  await children.stop(sink.child);
});

test('Postfix smtp-sink counts deliveries; in defer mode it answers 4xx to RCPT', {
  skip: !postfixSinkAvailable() && 'smtp-sink is not installed',
}, async () => {
  const sink = await startSink(children, { host: '127.0.0.4', mode: 'accept', prefer: 'postfix' });
  assert.equal(sink.kind, 'postfix smtp-sink');
  assert.equal((await load(sink.port, sink.host, 12)).accepted, 12);
  assert.ok((await sink.waitForCount(12, 5000)) !== undefined, `count ${sink.count()}`);
  assert.equal(sink.count(), 12);
  const defer = await startSink(children, {
    host: '127.0.0.5',
    port: sink.port,
    mode: 'defer',
    prefer: 'postfix',
  });
  const refused = await load(defer.port, defer.host, 3);
  assert.equal(refused.accepted, 0);
  assert.deepEqual(
    Object.keys(refused.errors).map((k) => k.slice(0, 3)),
    ['451'],
  );
  await Promise.all([children.stop(sink.child), children.stop(defer.child)]);
});

test('the reaper kills the pids and removes the dirs it was told about once its parent goes away', async () => {
  const reaper = children.fork('./reaper-child.ts', []);
  await waitMessage(reaper, 'ready', 10_000);
  const victim = spawn('sleep', ['30'], { stdio: 'ignore' });
  await once(victim, 'spawn');
  const dir = mkdtempSync(join(tmpdir(), 'mxpress-bench-'));
  const outside = mkdtempSync(join(tmpdir(), 'not-bench-'));
  reaper.send({ watch: victim.pid });
  reaper.send({ dir });
  reaper.send({ dir: outside });
  const reaperExit = once(reaper, 'exit');
  reaper.disconnect();
  const [, signal] = (await once(victim, 'exit')) as [number | null, string | null];
  assert.equal(signal, 'SIGKILL');
  await reaperExit;
  assert.equal(existsSync(dir), false);
  assert.equal(existsSync(outside), true, 'only mxpress-bench-* temp dirs are removed');
  rmSync(outside, { recursive: true });
});

test('temp dirs are removed by removeDir', async () => {
  const dir = await children.tempDir();
  assert.match(dir, /mxpress-bench-/);
  assert.ok(existsSync(dir));
  await children.removeDir(dir);
  assert.equal(existsSync(dir), false);
});

test("mxpress's start banner yields the bound SMTP and HTTP ports", async () => {
  const config = await loadConfig({
    argv: [
      '--data-dir',
      '/tmp/x',
      '--smtp',
      '127.0.0.1:0',
      '--http',
      '127.0.0.1:0',
      '--hostname',
      'bench.test',
    ],
    env: {},
    cwd: process.cwd(),
  });
  const banner = formatBanner(
    config,
    {
      listeners: [
        { name: '127.0.0.1:0', address: '127.0.0.1', port: 40125, tls: 'starttls', deliveryMode: 'async' },
      ],
      http: { address: '127.0.0.1', port: 40126 },
      tls: { selfSigned: true, fingerprint256: 'AA:BB' },
    },
    '0.0.0',
  );
  assert.deepEqual(parseBanner(banner), { smtpPort: 40125, httpPort: 40126 });
  assert.equal(parseBanner('nothing here'), undefined);
});
