/**
 * A failure without a reply stands in with one whose enhanced status (RFC 3463) says
 * what failed: DSNs and the API show it, and the classifier reads it. Each kind of
 * failure gets its own status and is explained as what it was.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CONNECTION_RESET_CODES } from '../contracts/status.ts';
import { classify } from '../feedback/classify.ts';
import type { DeliveryJob } from './job.ts';
import { fromSocketError, SmtpClientError } from './smtp-client/errors.ts';
import { outcomesFromError } from './transaction-outcomes.ts';

const JOB: DeliveryJob = {
  messageId: 'M1',
  receivedAt: 0,
  mailFrom: 'a@origin.test',
  size: 100,
  bodyType: '7BIT',
  smtputf8: false,
  domain: 'dest.test',
  recipients: [{ index: 0, address: 'b@dest.test', attempts: 0 }],
  messageRecipients: 1,
};

function outcomeOf(error: SmtpClientError) {
  const [outcome] = outcomesFromError(
    JOB,
    error,
    { startedAt: 0, finishedAt: 1, route: 'direct' },
    'session',
  );
  return outcome!;
}

const failure = (code: string, temporary = true) =>
  new SmtpClientError({ code, phase: 'data', message: 'test', temporary });

describe('stand-in replies', () => {
  const cases: [code: string, enhanced: string, category: string][] = [
    ['CLOSED', '4.4.2', 'connection-reset'],
    ...CONNECTION_RESET_CODES.map((code): [string, string, string] => [code, '4.4.2', 'connection-reset']),
    ['ECONNREFUSED', '4.4.1', 'connection-refused'],
    ['ETIMEDOUT', '4.4.1', 'connection-timeout'],
    ['TLS_REQUIRED', '4.7.5', 'tls-failure'],
    ['TLS_FAILED', '4.7.5', 'tls-failure'],
    ['PROTOCOL', '4.5.0', 'protocol-error'],
    ['LOCAL', '4.3.0', 'local-error'],
    ['BUSY', '4.3.0', 'local-error'],
  ];
  for (const [code, enhanced, category] of cases) {
    it(`${code}: 451 ${enhanced}, ${category}`, () => {
      const outcome = outcomeOf(failure(code));
      assert.equal(outcome.kind, 'deferred');
      assert.deepEqual([outcome.reply.code, outcome.reply.enhanced], [451, enhanced]);
      assert.equal(outcome.reply.text, `${code} during data: test`);
      assert.equal(classify({ reply: outcome.reply, errorCode: code }).category, category);
    });
  }
  it('a certificate refused in the handshake: TLS_FAILED, 4.7.5, explained as the certificate', () => {
    const cause = Object.assign(new Error('certificate has expired'), { code: 'CERT_HAS_EXPIRED' });
    const outcome = outcomeOf(fromSocketError(cause, 'starttls', true));
    assert.deepEqual(
      [outcome.errorCode, outcome.reply.code, outcome.reply.enhanced],
      ['TLS_FAILED', 451, '4.7.5'],
    );
    assert.equal(classify({ reply: outcome.reply, errorCode: 'TLS_FAILED' }).category, 'certificate-error');
  });
  it('a permanent failure gets the same status in class 5 and bounces', () => {
    const outcome = outcomeOf(failure('INVALID', false));
    assert.equal(outcome.kind, 'failed');
    assert.deepEqual([outcome.reply.code, outcome.reply.enhanced], [554, '5.3.0']);
  });
  it('a reply the server gave is kept as it is', () => {
    const reply = { code: 421, enhanced: '4.7.0', text: 'try later' };
    const outcome = outcomeOf(
      new SmtpClientError({ code: 'CLOSED', phase: 'mail', message: 'closed', reply }),
    );
    assert.deepEqual(outcome.reply, reply);
  });
});
