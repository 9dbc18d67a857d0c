import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { DeliveryJob, JobRecipient } from '../delivery/job.ts';
import { noticesDue, type Settled } from './reports.ts';

const T0 = Date.UTC(2026, 0, 1);
const HOUR = 3_600_000;

function job(recipient: Omit<JobRecipient, 'index' | 'address'>): DeliveryJob {
  return {
    messageId: '01TESTMESSAGE0000000000000',
    receivedAt: T0,
    mailFrom: 'sender@example.test',
    size: 100,
    bodyType: '7BIT',
    smtputf8: false,
    domain: 'example.net',
    messageRecipients: 1,
    recipients: [{ index: 0, address: 'r@example.net', ...recipient }],
  };
}

function deferred(attemptsBefore: number): Settled {
  return {
    outcome: {
      index: 0,
      address: 'r@example.net',
      kind: 'deferred',
      reply: { code: 451, enhanced: '4.3.0', text: 'try later' },
      scope: 'recipient',
      route: 'direct',
    },
    status: 'deferred',
    attemptsBefore,
  };
}

describe('noticesDue: delay notices', () => {
  it('NOTIFY=DELAY gets a notice on the first deferral only', () => {
    const j = job({ attempts: 0, notify: ['DELAY', 'FAILURE'] });
    assert.deepEqual(
      noticesDue(j, [deferred(0)]).map((n) => n.action),
      ['delayed'],
    );
    const later = job({ attempts: 1, notify: ['DELAY'], previousAttemptAt: T0 + 60_000 });
    assert.deepEqual(noticesDue(later, [deferred(1)], 0, T0 + HOUR), []);
  });

  it('without NOTIFY and without delayWarningAfter, a deferral sends nothing', () => {
    assert.deepEqual(
      noticesDue(job({ attempts: 3, previousAttemptAt: T0 + HOUR }), [deferred(3)], 0, T0 + 9 * HOUR),
      [],
    );
  });

  it('without NOTIFY, delayWarningAfter warns once: on the first deferral at or past that age', () => {
    const after = 4 * HOUR;
    // Younger than four hours: nothing yet.
    assert.deepEqual(
      noticesDue(job({ attempts: 1, previousAttemptAt: T0 + HOUR }), [deferred(1)], after, T0 + 2 * HOUR),
      [],
    );
    // The first deferral past four hours (previous attempt before): one warning.
    const due = noticesDue(
      job({ attempts: 2, previousAttemptAt: T0 + 2 * HOUR }),
      [deferred(2)],
      after,
      T0 + 5 * HOUR,
    );
    assert.deepEqual(
      due.map((n) => [n.action, n.address, n.reply?.code]),
      [['delayed', 'r@example.net', 451]],
    );
    // The deferral after that (previous attempt already past four hours): nothing more.
    assert.deepEqual(
      noticesDue(job({ attempts: 3, previousAttemptAt: T0 + 5 * HOUR }), [deferred(3)], after, T0 + 8 * HOUR),
      [],
    );
    // A first attempt made only after the message waited past four hours warns too.
    assert.equal(noticesDue(job({ attempts: 0 }), [deferred(0)], after, T0 + 4 * HOUR).length, 1);
  });

  it('an explicit NOTIFY without DELAY, or NEVER, is never warned', () => {
    const at = T0 + 5 * HOUR;
    for (const notify of [['FAILURE'] as const, 'NEVER' as const]) {
      assert.deepEqual(
        noticesDue(job({ attempts: 2, previousAttemptAt: T0 + HOUR, notify }), [deferred(2)], HOUR, at),
        [],
      );
    }
  });
});
