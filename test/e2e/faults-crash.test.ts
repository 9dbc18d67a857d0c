/**
 * Crash safety with delivery running: a real `mxpress start` child process, pointed
 * at an in-process DNS server and an in-process sink that records every message,
 * takes mail from several clients while it delivers; it is SIGKILLed at seeded
 * random moments and restarted on the same data directory, five times. After a
 * final restart, every message that got a 250 must reach the sink at least once.
 *
 * Duplicates are expected and counted: a message the sink accepted whose
 * `delivered` row the killed process had not yet written is sent again after the
 * restart. Each delivery connection carries one transaction at a time, so per kill
 * at most `maxConnections` (4 here, set through a YAML file) messages can be
 * delivered-but-unrecorded, plus those whose outcome was waiting for the spool
 * writer; the bound asserted is 4 per kill plus 2% of the acknowledged mail.
 *
 * Loopback only: the child listens on 127.0.0.1, the sink on 127.0.0.2.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { freePort, startChildMxpress } from '../harness/child-mxpress.ts';
import { type DnsServer, startDnsServer } from '../harness/dns-server.ts';
import { seededRandom } from '../harness/prng.ts';
import { rawSession } from '../harness/raw-session.ts';
import { type SmtpSink, startSmtpSink } from '../harness/smtp-sink.ts';

const ROUNDS = 5;
const MAX_CONNECTIONS = 4;

function startChild(
  dataDir: string,
  port: number,
  configFile: string,
  dns: DnsServer,
  sink: SmtpSink,
): Promise<ChildProcess> {
  return startChildMxpress(dataDir, port, [
    '--config',
    configFile,
    '--dns-server',
    dns.address,
    '--mx-port',
    String(sink.port),
    '--retry-intervals',
    '500ms',
  ]);
}

/** One client: sends messages until the connection dies; records acknowledged markers. */
async function client(port: number, tag: string, acked: Set<string>): Promise<void> {
  for (let n = 0; ; n++) {
    let s: Awaited<ReturnType<typeof rawSession>>;
    try {
      s = await rawSession(port);
      await s.expect(220, 5000);
      await s.command('EHLO load.example', 250);
    } catch {
      return;
    }
    try {
      for (let m = 0; m < 10; m++) {
        const marker = `${tag}-${n}-${m}`;
        await s.command('MAIL FROM:<load@example.net>', 250);
        await s.command(`RCPT TO:<${marker}@crash.test>`, 250);
        await s.command('DATA', 354);
        s.send(`Subject: ${marker}\r\n\r\n${'body line\r\n'.repeat(20)}marker ${marker}\r\n.\r\n`);
        const lines = await s.expect(250, 10_000);
        assert.match(lines[0] ?? '', /queued as [0-9A-Z]{26}/);
        acked.add(marker);
      }
    } catch {
      return;
    } finally {
      s.close();
    }
  }
}

/** Marker -> copies received by the sink. */
function copies(sink: SmtpSink): Map<string, number> {
  const counts = new Map<string, number>();
  for (const m of sink.messages) {
    const marker = /marker (\S+)\r\n$/.exec(m.body.toString('latin1'))?.[1];
    if (marker) counts.set(marker, (counts.get(marker) ?? 0) + 1);
  }
  return counts;
}

describe('kill -9 while delivering', () => {
  it('delivers every acknowledged message at least once across five SIGKILLs', async (t) => {
    const dataDir = mkdtempSync(join(tmpdir(), 'mxpress-crash-'));
    const configFile = join(dataDir, '..', `${dataDir.split('/').pop()}.yaml`);
    writeFileSync(
      configFile,
      `delivery:\n  shaping:\n    - { match: "*", maxConnections: ${MAX_CONNECTIONS}, pauseAfterFailure: 1s }\n`,
    );
    const dns = await startDnsServer({
      zone: {
        'crash.test': { mx: [{ preference: 10, exchange: 'mx.crash.test' }] },
        'mx.crash.test': { a: ['127.0.0.2'] },
      },
    });
    const sink = await startSmtpSink({ host: '127.0.0.2', port: 0 });
    const random = seededRandom(20261123);
    const acked = new Set<string>();
    let child: ChildProcess | undefined;
    try {
      const ackedAtKill: number[] = [];
      const startMs: number[] = [];
      const deliveredAtKill: number[] = [];
      for (let round = 0; round < ROUNDS; round++) {
        const port = await freePort();
        const t0 = Date.now();
        child = await startChild(dataDir, port, configFile, dns, sink);
        startMs.push(Date.now() - t0);
        const clients = Array.from({ length: 6 }, (_, i) => client(port, `r${round}c${i}`, acked));
        await new Promise((resolve) => setTimeout(resolve, 300 + random() * 1000));
        const exited = new Promise((resolve) => child?.once('exit', resolve));
        child.kill('SIGKILL');
        await exited;
        child = undefined;
        await Promise.all(clients);
        ackedAtKill.push(acked.size);
        deliveredAtKill.push(sink.messages.length);
      }
      assert.ok(acked.size > 50, `too few messages acknowledged to mean anything: ${acked.size}`);

      // Final restart: the queue drains into the sink.
      const port = await freePort();
      child = await startChild(dataDir, port, configFile, dns, sink);
      const drainStart = Date.now();
      const deadline = drainStart + 60_000;
      let missing: string[] = [];
      for (;;) {
        const got = copies(sink);
        missing = [...acked].filter((m) => !got.has(m));
        if (missing.length === 0 || Date.now() > deadline) break;
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
      assert.deepEqual(missing.slice(0, 10), [], `${missing.length} acknowledged messages never arrived`);
      const drainMs = Date.now() - drainStart;

      const got = copies(sink);
      const duplicates = [...got.values()].reduce((sum, n) => sum + (n - 1), 0);
      const bound = ROUNDS * MAX_CONNECTIONS + Math.ceil(acked.size * 0.02);
      t.diagnostic(`start times (ms): ${startMs.join(', ')}`);
      t.diagnostic(`acknowledged at each kill (cumulative): ${ackedAtKill.join(', ')}`);
      t.diagnostic(`sink copies at each kill (cumulative): ${deliveredAtKill.join(', ')}`);
      t.diagnostic(
        `${acked.size} acknowledged, all delivered (queue drained ${drainMs} ms after the final restart); duplicates ${duplicates} (bound ${bound})`,
      );
      assert.ok(duplicates <= bound, `${duplicates} duplicates is more than ${bound}`);
      assert.ok(
        [...got.keys()].every((m) => acked.has(m) || /^r\dc\d-\d+-\d$/.test(m)),
        'the sink got a message nobody sent',
      );
    } finally {
      if (child) {
        const exited = new Promise((resolve) => child?.once('exit', resolve));
        child.kill('SIGTERM');
        await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 15_000).unref())]);
        if (child.exitCode === null) child.kill('SIGKILL');
      }
      await sink.close();
      await dns.close();
      rmSync(dataDir, { recursive: true, force: true });
      rmSync(configFile, { force: true });
    }
  });
});
