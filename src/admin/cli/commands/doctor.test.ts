/**
 * Tests for `mxpress doctor`, run through main() against the in-process DNS
 * server and an SMTP sink on loopback: a well-configured setup passes every
 * check (MX answers with a 220 banner, PTR and A agree, one SPF record, the DKIM
 * record carries the configured key, DMARC present, a configured certificate for
 * the host name); a bare one reports the failures with their fixes; an
 * unreachable MX and a silent DNS server end in warnings or fails in bounded
 * time, never a hang.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type DnsServer, startDnsServer } from '../../../../test/harness/dns-server.ts';
import { type SmtpSink, startSmtpSink } from '../../../../test/harness/smtp-sink.ts';
import { buildSelfSignedCertificate } from '../../../config/self-signed.ts';
import { main } from '../main.ts';
import { fakeIo } from '../test-helpers.ts';

interface Result {
  checks: { name: string; verdict: string; detail: string; fix?: string }[];
}

describe('mxpress doctor', () => {
  let dns: DnsServer;
  let sink: SmtpSink;
  let dir: string;
  let configFile: string;
  let closedPort: number;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'mxpress-doctor-'));
    sink = await startSmtpSink({ host: '127.0.0.2', port: 0 });
    const dkim = generateKeyPairSync('ed25519');
    const keyFile = join(dir, 'dkim.pem');
    writeFileSync(keyFile, dkim.privateKey.export({ type: 'pkcs8', format: 'pem' }));
    const raw = dkim.publicKey.export({ type: 'spki', format: 'der' }).subarray(12).toString('base64');
    const tls = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const certFile = join(dir, 'cert.pem');
    const tlsKeyFile = join(dir, 'key.pem');
    writeFileSync(
      certFile,
      buildSelfSignedCertificate({
        hostname: 'mx.good.test',
        privateKey: tls.privateKey,
        publicKey: tls.publicKey,
      }),
    );
    writeFileSync(tlsKeyFile, tls.privateKey.export({ type: 'pkcs8', format: 'pem' }));
    configFile = join(dir, 'mxpress.yaml');
    writeFileSync(
      configFile,
      [
        'smtp:',
        `  tls: { cert: ${certFile}, key: ${tlsKeyFile} }`,
        'delivery:',
        `  dkim: [{ domain: good.test, selector: s1, privateKeyFile: ${keyFile} }]`,
        '',
      ].join('\n'),
    );
    dns = await startDnsServer({
      zone: {
        'probe.test': { mx: [{ preference: 10, exchange: 'mx.probe.test' }] },
        'mx.probe.test': { a: ['127.0.0.2'] },
        'down.test': { mx: [{ preference: 10, exchange: 'mx.down.test' }] },
        'mx.down.test': { a: ['127.0.0.5'] },
        'mx.good.test': { a: ['127.0.0.9'] },
        '9.0.0.127.in-addr.arpa': { ptr: ['mx.good.test'] },
        '10.0.0.127.in-addr.arpa': { ptr: ['other.test'] },
        'good.test': { txt: [['v=spf1 ip4:127.0.0.9 -all'], ['site-verification=x']] },
        's1._domainkey.good.test': { txt: [['v=DKIM1; k=ed25519; p=', raw]] },
        '_dmarc.good.test': { txt: [['v=DMARC1; p=reject']] },
      },
    });
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    closedPort = (probe.address() as { port: number }).port;
    await new Promise<void>((resolve) => probe.close(() => resolve()));
  });
  after(async () => {
    await dns.close();
    await sink.close();
    rmSync(dir, { recursive: true, force: true });
  });

  async function doctor(args: string[]): Promise<{ code: number; result: Result; err: string }> {
    const io = fakeIo({ cwd: dir });
    const code = await main(['doctor', '--json', '--data-dir', join(dir, 'data'), ...args], io);
    return { code, result: io.out() ? (JSON.parse(io.out()) as Result) : { checks: [] }, err: io.err() };
  }
  const verdicts = (r: Result): Record<string, string> =>
    Object.fromEntries(r.checks.map((c) => [c.name, c.verdict]));

  it('passes every check for a well-configured sender', async () => {
    const { code, result, err } = await doctor([
      '--config',
      configFile,
      '--dns-server',
      dns.address,
      '--mx-port',
      String(sink.port),
      '--hostname',
      'mx.good.test',
      '--probe-domain',
      'probe.test',
      '--public-ip',
      '127.0.0.9',
    ]);
    assert.equal(code, 0, err + JSON.stringify(result));
    assert.deepEqual(verdicts(result), {
      dns: 'pass',
      port25: 'pass',
      ptr: 'pass',
      spf: 'pass',
      dkim: 'pass',
      dmarc: 'pass',
      tls: 'pass',
    });
    assert.match(
      result.checks.find((c) => c.name === 'port25')!.detail,
      /mx\.probe\.test \[127\.0\.0\.2\].*220/,
    );
  });

  it('reports missing records, a wrong PTR and no certificate yet, each with a fix (exit 1)', async () => {
    const { code, result } = await doctor([
      '--dns-server',
      dns.address,
      '--mx-port',
      String(sink.port),
      '--hostname',
      'mx.bare.test',
      '--probe-domain',
      'probe.test',
      '--public-ip',
      '127.0.0.10',
      '--sender-domain',
      'bare.test',
    ]);
    assert.equal(code, 1);
    assert.deepEqual(verdicts(result), {
      dns: 'pass',
      port25: 'pass',
      ptr: 'fail',
      spf: 'fail',
      dkim: 'warn',
      dmarc: 'warn',
      tls: 'warn',
    });
    const by = new Map(result.checks.map((c) => [c.name, c]));
    assert.match(by.get('ptr')!.detail, /other\.test, not the HELO name mx\.bare\.test/);
    assert.match(by.get('spf')!.fix!, /v=spf1 ip4:127\.0\.0\.10 -all/);
    assert.match(by.get('dkim')!.fix!, /dkim keygen bare\.test/);
    assert.match(by.get('tls')!.detail, /no certificate yet/);
  });

  it('warns when the MX cannot be reached or the public address is unknown', async () => {
    const { result } = await doctor([
      '--dns-server',
      dns.address,
      '--mx-port',
      String(closedPort),
      '--hostname',
      'mx.good.test',
      '--probe-domain',
      'down.test',
    ]);
    const by = new Map(result.checks.map((c) => [c.name, c]));
    assert.equal(by.get('port25')!.verdict, 'warn');
    assert.match(by.get('port25')!.detail, /cannot reach mx\.down\.test \[127\.0\.0\.5\]/);
    assert.match(by.get('port25')!.fix!, /smarthost/);
    assert.equal(by.get('ptr')!.verdict, 'warn');
    assert.match(by.get('ptr')!.fix!, /--public-ip/);
  });

  it('fails the DNS check, without hanging, when the DNS server does not answer', async () => {
    const started = Date.now();
    const { code, result } = await doctor([
      '--dns-server',
      `127.0.0.1:${closedPort}`,
      '--hostname',
      'mx.good.test',
      '--probe-domain',
      'probe.test',
    ]);
    assert.equal(code, 1);
    const by = new Map(result.checks.map((c) => [c.name, c]));
    assert.equal(by.get('dns')!.verdict, 'fail');
    assert.match(by.get('dns')!.fix!, /--dns-server/);
    assert.equal(by.get('port25')!.verdict, 'warn');
    assert.ok(Date.now() - started < 60_000);
  });

  it('prints a readable report and refuses bad flags', async () => {
    const io = fakeIo({ cwd: dir });
    await main(
      [
        'doctor',
        '--data-dir',
        join(dir, 'data'),
        '--dns-server',
        dns.address,
        '--mx-port',
        String(sink.port),
        '--hostname',
        'mx.good.test',
        '--probe-domain',
        'probe.test',
      ],
      io,
    );
    assert.match(io.out(), /^PASS {2}dns {5}/m);
    assert.match(io.out(), /^WARN {2}ptr .*\n {14}fix: run again with --public-ip/m);
    assert.match(io.out(), /\d pass, \d warn, \d fail\n$/);
    const bad = fakeIo({ cwd: dir });
    assert.equal(await main(['doctor', '--public-ip', 'nope'], bad), 64);
    assert.match(bad.err(), /not an IP address/);
  });
});
