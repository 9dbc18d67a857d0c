/**
 * The delivery engine's outbound TLS policy over real sockets on loopback: an SMTP
 * sink offering STARTTLS with the test certificate (names sink.test, localhost,
 * 127.0.0.1), a sink without STARTTLS, the in-process DNS server, and a local HTTPS
 * server publishing MTA-STS policies. Covers `delivery.tls` rules (none, may,
 * encrypt, verify with its name check), MTA-STS enforce/testing/none, policy
 * caching, fetch errors and the TLS-RPT counts.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type DnsServer, startDnsServer, type Zone } from '../../../test/harness/dns-server.ts';
import { type SmtpSink, startSmtpSink } from '../../../test/harness/smtp-sink.ts';
import { testTlsCredentials } from '../../../test/harness/tls-fixture.ts';
import { createResolver } from '../dns/resolver.ts';
import { DeliveryEngine } from '../engine.ts';
import type { DeliveryJob, RecipientOutcome } from '../job.ts';
import { DEFAULT_SHAPING } from '../router.ts';
import { openSmtpConnection } from '../smtp-client/session.ts';
import { httpsPolicyFetcher, MtaStsPolicies } from './mta-sts.ts';
import { type PolicyServer, startPolicyServer } from './policy-server.testkit.ts';
import type { TlsRule } from './rules.ts';
import { resultTypeFor, TlsReportStore } from './tls-report.ts';

const TLS_IP = '127.0.0.31';
const PLAIN_IP = '127.0.0.32';
const POLICY_IP = '127.0.0.33';

function zone(): Zone {
  const z: Zone = {
    'sink.test': { a: [TLS_IP] },
    'mx.tls.test': { a: [TLS_IP] },
    'mx.plain.test': { a: [PLAIN_IP] },
  };
  const mx = (domain: string, exchange: string): void => {
    z[domain] = { mx: [{ preference: 10, exchange }] };
  };
  mx('good.test', 'sink.test');
  mx('tls.test', 'mx.tls.test');
  mx('tlsmay.test', 'mx.tls.test');
  mx('tlsnone.test', 'mx.tls.test');
  mx('plain.test', 'mx.plain.test');
  mx('plainmay.test', 'mx.plain.test');
  const sts = (domain: string, exchange: string): void => {
    mx(domain, exchange);
    z[`_mta-sts.${domain}`] = { txt: [['v=STSv1; id=20261122']] };
    z[`mta-sts.${domain}`] = { a: [POLICY_IP] };
  };
  sts('sts-ok.test', 'sink.test');
  sts('sts-override.test', 'sink.test');
  sts('sts-mismatch.test', 'mx.tls.test');
  sts('sts-notls.test', 'mx.plain.test');
  sts('sts-testing.test', 'mx.plain.test');
  sts('sts-none.test', 'mx.plain.test');
  sts('sts-broken.test', 'mx.plain.test');
  return z;
}

const policy = (mode: string, ...mx: string[]): string =>
  ['version: STSv1', `mode: ${mode}`, ...mx.map((m) => `mx: ${m}`), 'max_age: 86400', ''].join('\r\n');

const RULES: TlsRule[] = [
  { match: 'plain.test', policy: 'encrypt' },
  { match: 'good.test', policy: 'verify' },
  { match: 'tls.test', policy: 'verify' },
  { match: 'tlsnone.test', policy: 'none' },
  { match: 'sts-override.test', policy: 'none' },
];

const BODY = Buffer.from('Subject: tls test\r\n\r\nhello\r\n');
let counter = 0;

function jobFor(domain: string): DeliveryJob {
  counter++;
  return {
    messageId: `tls${counter}`,
    receivedAt: Date.now(),
    mailFrom: 'sender@client.test',
    size: BODY.length,
    bodyType: '7BIT',
    smtputf8: false,
    domain,
    recipients: [{ index: 0, address: `user${counter}@${domain}`, attempts: 0 }],
    messageRecipients: 1,
  };
}

describe('outbound TLS policy and MTA-STS', () => {
  let dns: DnsServer;
  let tlsSink: SmtpSink;
  let plainSink: SmtpSink;
  let policies: PolicyServer;
  let engine: DeliveryEngine;
  let reports: TlsReportStore;

  const deliver = async (domain: string): Promise<RecipientOutcome> => {
    const outcomes = await engine.deliver(jobFor(domain));
    assert.equal(outcomes.length, 1);
    return outcomes[0]!;
  };
  const received = (sink: SmtpSink, outcome: RecipientOutcome) =>
    sink.messages.find((m) => m.rcptTo.some((r) => r.includes(outcome.address)));
  const report = (domain: string) => reports.snapshot().domains.find((d) => d.policyDomain === domain);

  before(async () => {
    dns = await startDnsServer({ zone: zone() });
    // Both sinks share one port (the engine has one MX port); retry if it is taken on the second address.
    for (let attempt = 0; ; attempt++) {
      tlsSink = await startSmtpSink({ host: TLS_IP, script: { tls: testTlsCredentials() } });
      try {
        plainSink = await startSmtpSink({ host: PLAIN_IP, port: tlsSink.port });
        break;
      } catch (error) {
        await tlsSink.close();
        if (attempt >= 5) throw error;
      }
    }
    policies = await startPolicyServer(POLICY_IP, {
      'sts-ok.test': policy('enforce', 'sink.test'),
      'sts-override.test': policy('enforce', 'sink.test'),
      'sts-mismatch.test': policy('enforce', 'mx.elsewhere.test'),
      'sts-notls.test': policy('enforce', '*.plain.test'),
      'sts-testing.test': policy('testing', 'mx.elsewhere.test'),
      'sts-none.test': policy('none'),
      'sts-broken.test': 500,
    });
    const resolver = createResolver({ servers: [dns.address], timeoutMs: 3000, cacheMaxEntries: 0 });
    reports = new TlsReportStore();
    const mtaSts = new MtaStsPolicies({
      resolver,
      fetch: httpsPolicyFetcher({ resolver, port: policies.port, ca: policies.ca, timeoutMs: 10_000 }),
    });
    const ca = testTlsCredentials().cert;
    engine = new DeliveryEngine({
      resolver,
      localHostname: 'client.test',
      mxPort: tlsSink.port,
      ipv6: false,
      shaping: [{ ...DEFAULT_SHAPING, pauseAfterFailureMs: 0 }],
      routes: [],
      timeouts: { connectMs: 10_000, greetingMs: 10_000, ehloMs: 10_000, starttlsMs: 10_000 },
      idleConnectionMs: 1000,
      connect: (options) => openSmtpConnection({ ...options, tlsOptions: { ca } }),
      loadTransaction: async (job) => ({
        mailFrom: job.mailFrom,
        recipients: job.recipients.map((r) => ({ address: r.address })),
        body: BODY,
        size: BODY.length,
        eightBit: false,
        smtputf8: false,
      }),
      now: Date.now,
      log: () => {},
      tlsRules: RULES,
      mtaSts,
      tlsReports: reports,
    });
  });

  after(async () => {
    await engine?.close();
    await Promise.all([dns?.close(), tlsSink?.close(), plainSink?.close(), policies?.close()]);
  });

  test('encrypt defers when the MX offers no STARTTLS, with a 4.7.5 reply', async () => {
    const o = await deliver('plain.test');
    assert.equal(o.kind, 'deferred');
    assert.equal(o.errorCode, 'TLS_REQUIRED');
    assert.equal(o.reply.code, 451);
    assert.equal(o.reply.enhanced, '4.7.5');
    assert.match(o.reply.text, /TLS policy "encrypt" for plain\.test requires TLS/);
    assert.equal(received(plainSink, o), undefined);
  });

  test('may delivers in plaintext to the MX without STARTTLS, and over TLS when offered', async () => {
    const plain = await deliver('plainmay.test');
    assert.equal(plain.kind, 'delivered', plain.reply.text);
    assert.equal(received(plainSink, plain)?.tls, false);
    const tls = await deliver('tlsmay.test');
    assert.equal(tls.kind, 'delivered', tls.reply.text);
    assert.equal(received(tlsSink, tls)?.tls, true);
    assert.ok(tls.attempt?.tls?.protocol.startsWith('TLS'));
  });

  test('none never starts TLS even when offered', async () => {
    const o = await deliver('tlsnone.test');
    assert.equal(o.kind, 'delivered', o.reply.text);
    assert.equal(received(tlsSink, o)?.tls, false);
  });

  test('verify delivers when the certificate names the MX host and defers when it does not', async () => {
    const good = await deliver('good.test');
    assert.equal(good.kind, 'delivered', good.reply.text);
    assert.equal(received(tlsSink, good)?.tls, true);
    const bad = await deliver('tls.test');
    assert.equal(bad.kind, 'deferred');
    assert.equal(bad.errorCode, 'TLS_FAILED');
    assert.equal(bad.reply.enhanced, '4.7.5');
    assert.equal(received(tlsSink, bad), undefined);
  });

  test('MTA-STS enforce: verified TLS to an allowed MX delivers and counts a success; the policy is cached', async () => {
    // Two jobs at once share one policy fetch; a later one uses the cached policy.
    const [first, second] = await Promise.all([deliver('sts-ok.test'), deliver('sts-ok.test')]);
    assert.equal(first.kind, 'delivered', first.reply.text);
    assert.equal(second.kind, 'delivered', second.reply.text);
    assert.equal(received(tlsSink, first)?.tls, true);
    const third = await deliver('sts-ok.test');
    assert.equal(third.kind, 'delivered', third.reply.text);
    assert.equal(policies.requests.get('mta-sts.sts-ok.test'), 1, 'fetched once, then cached');
    const r = report('sts-ok.test');
    assert.equal(r?.policyType, 'sts');
    assert.ok((r?.totalSuccessfulSessionCount ?? 0) >= 1);
    assert.equal(r?.totalFailureSessionCount, 0);
    assert.deepEqual(r?.mxHosts, ['sink.test']);
    assert.ok(r?.policyStrings?.includes('mode: enforce'));
  });

  test('MTA-STS enforce wins over a local `none` rule: the session is TLS, verified', async () => {
    const o = await deliver('sts-override.test');
    assert.equal(o.kind, 'delivered', o.reply.text);
    assert.equal(received(tlsSink, o)?.tls, true);
    assert.equal(report('sts-override.test')?.totalSuccessfulSessionCount, 1);
  });

  test('MTA-STS enforce: no MX allowed by the policy defers at once with 4.7.5', async () => {
    const connectionsBefore = tlsSink.connectionCount;
    const o = await deliver('sts-mismatch.test');
    assert.equal(o.kind, 'deferred');
    assert.equal(o.errorCode, 'MTA_STS_MX_MISMATCH');
    assert.equal(o.reply.enhanced, '4.7.5');
    assert.match(o.reply.text, /MTA-STS policy of sts-mismatch\.test/);
    assert.equal(tlsSink.connectionCount, connectionsBefore, 'no connection tried');
    const r = report('sts-mismatch.test');
    assert.equal(r?.totalFailureSessionCount, 1);
    assert.equal(r?.failureDetails[0]?.resultType, 'validation-failure');
    assert.equal(r?.failureDetails[0]?.receivingMxHostname, 'mx.tls.test');
  });

  test('MTA-STS enforce: an allowed MX without STARTTLS defers and reports starttls-not-supported', async () => {
    const o = await deliver('sts-notls.test');
    assert.equal(o.kind, 'deferred');
    assert.equal(o.errorCode, 'TLS_REQUIRED');
    assert.equal(o.reply.enhanced, '4.7.5');
    assert.match(o.reply.text, /requires verified TLS/);
    assert.equal(received(plainSink, o), undefined);
    const r = report('sts-notls.test');
    assert.equal(r?.failureDetails[0]?.resultType, 'starttls-not-supported');
    assert.equal(r?.failureDetails[0]?.receivingIp, PLAIN_IP);
  });

  test('MTA-STS testing: delivers as configured and records what enforce would refuse', async () => {
    const o = await deliver('sts-testing.test');
    assert.equal(o.kind, 'delivered', o.reply.text);
    assert.equal(received(plainSink, o)?.tls, false);
    const r = report('sts-testing.test');
    assert.equal(r?.totalSuccessfulSessionCount, 0);
    assert.equal(r?.totalFailureSessionCount, 1);
    assert.equal(r?.failureDetails[0]?.resultType, 'validation-failure');
  });

  test('MTA-STS mode none, and a policy that cannot be fetched, deliver as if there were no policy', async () => {
    const none = await deliver('sts-none.test');
    assert.equal(none.kind, 'delivered', none.reply.text);
    assert.equal(report('sts-none.test'), undefined);
    const broken = await deliver('sts-broken.test');
    assert.equal(broken.kind, 'delivered', broken.reply.text);
    const r = report('sts-broken.test');
    assert.equal(r?.failureDetails[0]?.resultType, 'sts-policy-fetch-error');
    // The engine reuses a domain's route for a moment; a failure its decision recorded is
    // recorded again for each job it serves.
    const before = r?.totalFailureSessionCount ?? 0;
    assert.equal((await deliver('sts-broken.test')).kind, 'delivered');
    assert.equal(report('sts-broken.test')?.totalFailureSessionCount, before + 1);
  });
});

describe('TLS-RPT result types of real handshake failures', () => {
  let sink: SmtpSink;
  before(async () => {
    sink = await startSmtpSink({ host: TLS_IP, script: { tls: testTlsCredentials() } });
  });
  after(async () => {
    await sink?.close();
  });

  const failure = async (mxHost: string, ca?: string): Promise<unknown> => {
    try {
      const c = await openSmtpConnection({
        host: TLS_IP,
        port: sink.port,
        mxHost,
        localHostname: 'client.test',
        tls: 'verify',
        timeouts: { connectMs: 10_000, greetingMs: 10_000, ehloMs: 10_000, starttlsMs: 10_000 },
        ...(ca ? { tlsOptions: { ca } } : {}),
      });
      c.destroy();
      return undefined;
    } catch (error) {
      return error;
    }
  };

  test('a certificate for another name is certificate-host-mismatch; an unknown issuer certificate-not-trusted', async () => {
    const ca = testTlsCredentials().cert;
    assert.equal(await failure('sink.test', ca), undefined);
    assert.equal(resultTypeFor(await failure('mx.other.test', ca)), 'certificate-host-mismatch');
    assert.equal(resultTypeFor(await failure('sink.test')), 'certificate-not-trusted');
    assert.equal(resultTypeFor(new Error('not a session error')), undefined);
  });
});
