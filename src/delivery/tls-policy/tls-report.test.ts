/**
 * Tests for the in-memory TLS-RPT counts: successes and failures per policy
 * domain with RFC 8460 field names, details grouped by result type and MX, the
 * domain and detail limits, clearing, and the classification of client errors.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SmtpClientError } from '../smtp-client/errors.ts';
import { resultTypeFor, TlsReportStore } from './tls-report.ts';

const STS = {
  policyType: 'sts',
  policyStrings: ['version: STSv1', 'mode: enforce'],
  mxHosts: ['mx.a.test'],
} as const;

test('counts per policy domain, details grouped by result type and receiving MX', () => {
  let now = 1000;
  const store = new TlsReportStore({ now: () => now });
  store.recordSuccess('a.test', STS);
  now = 2000;
  store.recordSuccess('a.test', STS);
  store.recordFailure('a.test', STS, 'starttls-not-supported', { mxHost: 'mx.a.test', ip: '192.0.2.1' });
  store.recordFailure('a.test', STS, 'starttls-not-supported', { mxHost: 'mx.a.test', ip: '192.0.2.1' });
  store.recordFailure('b.test', { policyType: 'sts' }, 'sts-policy-fetch-error');
  assert.deepEqual(store.snapshot(), {
    dropped: 0,
    domains: [
      {
        policyDomain: 'a.test',
        policyType: 'sts',
        policyStrings: ['version: STSv1', 'mode: enforce'],
        mxHosts: ['mx.a.test'],
        totalSuccessfulSessionCount: 2,
        totalFailureSessionCount: 2,
        failureDetails: [
          {
            resultType: 'starttls-not-supported',
            receivingMxHostname: 'mx.a.test',
            receivingIp: '192.0.2.1',
            failedSessionCount: 2,
          },
        ],
        firstAt: 1000,
        lastAt: 2000,
      },
      {
        policyDomain: 'b.test',
        policyType: 'sts',
        totalSuccessfulSessionCount: 0,
        totalFailureSessionCount: 1,
        failureDetails: [{ resultType: 'sts-policy-fetch-error', failedSessionCount: 1 }],
        firstAt: 2000,
        lastAt: 2000,
      },
    ],
  });
  store.clear();
  assert.deepEqual(store.snapshot(), { domains: [], dropped: 0 });
});

test('limits: domains past maxDomains are dropped and counted, details past maxDetails only counted', () => {
  const store = new TlsReportStore({ maxDomains: 2, maxDetails: 1 });
  store.recordSuccess('a.test', STS);
  store.recordSuccess('b.test', STS);
  store.recordSuccess('c.test', STS);
  store.recordFailure('a.test', STS, 'validation-failure', { mxHost: 'one.test' });
  store.recordFailure('a.test', STS, 'validation-failure', { mxHost: 'two.test' });
  const snap = store.snapshot();
  assert.equal(snap.dropped, 1);
  assert.deepEqual(
    snap.domains.map((d) => d.policyDomain),
    ['a.test', 'b.test'],
  );
  assert.equal(snap.domains[0]?.totalFailureSessionCount, 2);
  assert.equal(snap.domains[0]?.failureDetails.length, 1);
});

test('client errors map to RFC 8460 result types; other failures are not about TLS', () => {
  const tls = (cause?: unknown, reply?: boolean) =>
    new SmtpClientError({
      code: 'TLS_FAILED',
      phase: 'starttls',
      message: 'x',
      cause,
      ...(reply ? { reply: { code: 454, enhanced: '4.7.0', text: 'TLS not available' } } : {}),
    });
  assert.equal(
    resultTypeFor(new SmtpClientError({ code: 'TLS_REQUIRED', phase: 'starttls', message: 'x' })),
    'starttls-not-supported',
  );
  assert.equal(resultTypeFor(tls(undefined, true)), 'starttls-not-supported');
  assert.equal(resultTypeFor(tls({ code: 'CERT_HAS_EXPIRED' })), 'certificate-expired');
  assert.equal(resultTypeFor(tls({ code: 'ERR_TLS_CERT_ALTNAME_INVALID' })), 'certificate-host-mismatch');
  assert.equal(resultTypeFor(tls({ code: 'SELF_SIGNED_CERT_IN_CHAIN' })), 'certificate-not-trusted');
  assert.equal(resultTypeFor(tls(new Error('handshake alert'))), 'validation-failure');
  assert.equal(
    resultTypeFor(new SmtpClientError({ code: 'ECONNREFUSED', phase: 'connect', message: 'x' })),
    undefined,
  );
});
