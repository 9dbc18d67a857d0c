/**
 * mxpress delivering to receiving MX hosts nobody here wrote: Python's aiosmtpd and
 * Postfix's smtp-sink. What arrives must be exactly what the client submitted, after
 * the trace and DKIM-Signature fields mxpress prepends, and the DKIM signature must
 * verify at the receiver's end through DNS (our resolver, the in-process DNS server).
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { dkimVerify } from 'mailauth/lib/dkim/verify.js';
import type { Config } from '../../src/config/types.ts';
import { createResolver } from '../../src/delivery/dns/resolver.ts';
import { freePort } from '../harness/child-mxpress.ts';
import { type DnsServer, startDnsServer } from '../harness/dns-server.ts';
import { has, PYTHON } from '../harness/interop/peers.ts';
import { startTestServer, type TestServer } from '../harness/mxpress.ts';
import { rawSession } from '../harness/raw-session.ts';

const hasAiosmtpd = has(PYTHON) && spawnOk(PYTHON, ['-c', 'import aiosmtpd']);
const hasSmtpSink = has('smtp-sink');

function spawnOk(cmd: string, args: string[]): boolean {
  try {
    return spawnSync(cmd, args, { stdio: 'ignore' }).status === 0;
  } catch {
    return false;
  }
}

async function waitFor<T>(probe: () => T | undefined, what: string, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const SUBMITTED =
  'From: Sender <sender@signed.test>\r\nTo: rcpt@aio.test\r\nSubject: interop byte check\r\nDate: Sun, 22 Nov 2026 10:00:00 +0000\r\nMessage-ID: <interop-1@signed.test>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n.leading dot survives stuffing\r\nGr\xc3\xbc\xc3\x9fe, 8-bit line\r\n..two dots\r\nlast line\r\n';

describe('receiving MX hosts written elsewhere', {
  skip: !hasAiosmtpd && !hasSmtpSink && 'neither aiosmtpd nor smtp-sink is installed',
}, () => {
  let dns: DnsServer;
  let server: TestServer;
  let port = 0;
  const dir = mkdtempSync(join(tmpdir(), 'mxpress-receivers-'));
  const children: ChildProcess[] = [];
  let publicKey = '';

  before(async () => {
    const { privateKey, publicKey: pub } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    writeFileSync(join(dir, 'dkim.key'), privateKey.export({ type: 'pkcs8', format: 'pem' }), {
      mode: 0o600,
    });
    publicKey = pub.export({ type: 'spki', format: 'der' }).toString('base64');
    port = await freePort('127.0.0.40');
    dns = await startDnsServer({
      zone: {
        'aio.test': { mx: [{ preference: 10, exchange: 'mx.aio.test' }] },
        'mx.aio.test': { a: ['127.0.0.40'] },
        'pfx.test': { mx: [{ preference: 10, exchange: 'mx.pfx.test' }] },
        'mx.pfx.test': { a: ['127.0.0.41'] },
        'mx1._domainkey.signed.test': { txt: [`v=DKIM1; k=rsa; p=${publicKey}`.match(/.{1,255}/g)!] },
      },
    });
    if (hasAiosmtpd) {
      const out = join(dir, 'aio');
      mkdirSync(out);
      const child = spawn(
        PYTHON,
        [
          join(import.meta.dirname, '..', 'harness', 'interop', 'aiosmtpd-mx.py'),
          '127.0.0.40',
          String(port),
          out,
        ],
        {
          stdio: ['pipe', 'pipe', 'inherit'],
        },
      );
      children.push(child);
      let ready = false;
      child.stdout!.on('data', (c: Buffer) => {
        if (c.toString().includes('READY')) ready = true;
      });
      await waitFor(() => (ready ? true : undefined), 'aiosmtpd to listen');
    }
    if (hasSmtpSink) {
      const out = join(dir, 'pfx');
      mkdirSync(out);
      chmodSync(dir, 0o755); // smtp-sink writes as nobody
      chmodSync(out, 0o1777);
      const args = ['-d', `${out}/%Y%m%d%H%M%S.`, `127.0.0.41:${port}`, '64'];
      if (process.getuid?.() === 0) args.unshift('-u', 'nobody');
      const child = spawn('smtp-sink', args, { stdio: 'ignore' });
      children.push(child);
      await waitFor(
        () =>
          spawnSync('bash', ['-c', `exec 3<>/dev/tcp/127.0.0.41/${port}`]).status === 0 ? true : undefined,
        'smtp-sink to listen',
      );
    }
    server = await startTestServer({
      argv: ['--dns-server', dns.address, '--mx-port', String(port)],
      mutate: (c: Config): Config => ({
        ...c,
        delivery: {
          ...c.delivery,
          dkim: [{ domain: 'signed.test', selector: 'mx1', privateKeyFile: join(dir, 'dkim.key') }],
        },
      }),
    });
  });

  after(async () => {
    await server?.stop();
    for (const child of children) child.kill('SIGTERM');
    await dns?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  async function submit(to: string): Promise<string> {
    const s = await rawSession(server.port);
    try {
      await s.expect(220);
      await s.command('EHLO app.example', 250);
      await s.command('MAIL FROM:<sender@signed.test> BODY=8BITMIME', 250);
      await s.command(`RCPT TO:<${to}>`, 250);
      await s.command('DATA', 354);
      s.send(Buffer.from(`${SUBMITTED.replace('rcpt@aio.test', to).replace(/^\./gm, '..')}.\r\n`, 'latin1'));
      const lines = await s.expect(250);
      return /queued as ([0-9A-Z]{26})/.exec(lines[0]!)![1]!;
    } finally {
      s.close();
    }
  }

  async function verifyDkim(message: Buffer): Promise<string | undefined> {
    const resolver = createResolver({ servers: [dns.address], timeoutMs: 2000 });
    const result = await dkimVerify(message, {
      resolver: async (name: string, type: string) => {
        const txt = type === 'TXT' ? await resolver.resolveTxt(name) : undefined;
        if (txt?.kind === 'ok') return txt.records.map((r) => [r]);
        throw Object.assign(new Error('not found'), { code: 'ENOTFOUND' });
      },
    });
    return result.results[0]?.status?.result;
  }

  function checkArrived(received: Buffer, to: string, id: string): void {
    const submitted = Buffer.from(SUBMITTED.replace('rcpt@aio.test', to), 'latin1');
    const tail = received.subarray(received.length - submitted.length);
    assert.ok(
      tail.equals(submitted),
      `the submitted bytes did not arrive unchanged: ${JSON.stringify(received.subarray(-120).toString('latin1'))}`,
    );
    const prepended = received.subarray(0, received.length - submitted.length).toString('latin1');
    assert.match(prepended, /^DKIM-Signature: /);
    assert.match(prepended, new RegExp(`by mx\\.mxpress\\.test \\(mxpress\\) with ESMTP id ${id}`));
  }

  it('aiosmtpd receives exactly the submitted bytes, DKIM-signed and verifiable', {
    skip: !hasAiosmtpd && 'aiosmtpd not installed',
  }, async () => {
    const id = await submit('rcpt@aio.test');
    const out = join(dir, 'aio');
    const file = await waitFor(
      () => readdirSync(out).find((f) => f.endsWith('.eml')),
      'the message at aiosmtpd',
    );
    await new Promise((resolve) => setTimeout(resolve, 100));
    const received = readFileSync(join(out, file));
    checkArrived(received, 'rcpt@aio.test', id);
    const envelope = JSON.parse(readFileSync(join(out, file.replace('.eml', '.json')), 'utf8')) as {
      from: string;
      to: string[];
      mail_options: string[];
    };
    assert.equal(envelope.from, 'sender@signed.test');
    assert.deepEqual(envelope.to, ['rcpt@aio.test']);
    assert.ok(envelope.mail_options.some((o) => o.toUpperCase() === 'BODY=8BITMIME'));
    assert.equal(await verifyDkim(received), 'pass');
  });

  it("Postfix's smtp-sink receives exactly the submitted bytes, DKIM-signed and verifiable", {
    skip: !hasSmtpSink && 'smtp-sink not installed',
  }, async () => {
    const id = await submit('rcpt@pfx.test');
    const out = join(dir, 'pfx');
    const file = await waitFor(() => readdirSync(out)[0], 'the message at smtp-sink');
    await new Promise((resolve) => setTimeout(resolve, 200));
    const dumped = readFileSync(join(out, file));
    // smtp-sink writes its own X-* and Received lines first (ours start at DKIM-Signature),
    // stores lines with LF endings and ends the file with one more newline: undo that.
    const start = dumped.indexOf('DKIM-Signature: ');
    assert.ok(start > 0, 'no DKIM-Signature in what smtp-sink stored');
    const stored = dumped.subarray(start).toString('latin1');
    assert.ok(stored.endsWith('\n\n') && !stored.includes('\r'), 'smtp-sink stored an unexpected format');
    const received = Buffer.from(stored.slice(0, -1).replace(/\n/g, '\r\n'), 'latin1');
    checkArrived(received, 'rcpt@pfx.test', id);
    assert.equal(await verifyDkim(received), 'pass');
  });
});
