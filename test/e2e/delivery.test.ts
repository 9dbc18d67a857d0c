/**
 * Direct delivery end to end: real DNS (in-process server), our resolver, our SMTP
 * client, scripted receiving MX hosts on 127.0.0.x, retries, expiry and RFC 3464
 * reports arriving back at the sender's own MX.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type {
  BouncedEvent,
  DeferredEvent,
  DeliveredEvent,
  DsnSentEvent,
  ExpiredEvent,
  LifecycleEvent,
} from '../../src/contracts/events.ts';
import { type DeliveryLab, startDeliveryLab } from '../harness/delivery-lab.ts';
import type { SinkMessage } from '../harness/smtp-sink.ts';

const isType =
  <T extends LifecycleEvent['type']>(type: T, messageId: string, recipient?: string) =>
  (e: LifecycleEvent): e is Extract<LifecycleEvent, { type: T }> =>
    e.type === type &&
    e.messageId === messageId &&
    (recipient === undefined || ('recipient' in e && e.recipient === recipient));

async function reportFor(
  lab: DeliveryLab,
  messageId: string,
  timeoutMs = 8000,
): Promise<{ event: DsnSentEvent; message: SinkMessage; text: string }> {
  const event = await lab.waitFor(isType('dsn-sent', messageId), timeoutMs);
  const deadline = Date.now() + 5000;
  for (;;) {
    const message = lab.sinks.dump.messages.find((m) => m.body.toString('utf8').includes(event.dsnMessageId));
    if (message) return { event, message, text: message.body.toString('utf8') };
    if (Date.now() > deadline) throw new Error(`report ${event.dsnMessageId} never reached the sender's MX`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

describe('direct delivery', () => {
  let lab: DeliveryLab;
  before(async () => {
    lab = await startDeliveryLab();
  });
  after(async () => {
    await lab.close();
  });

  it('delivers to the implicit MX of a domain without MX records', async () => {
    const id = await lab.submit(
      'sender@dump.test',
      ['ok@nomx.test'],
      'Subject: implicit\r\n\r\nhello implicit\r\n',
    );
    const event = await lab.waitFor(isType('delivered', id, 'ok@nomx.test'));
    assert.equal(event.attempt.ip, '127.0.0.2');
    assert.equal(event.attempt.mxHost, 'nomx.test');
    const got = lab.sinks.ok.messages.find((m) => m.body.includes(`id ${id}`));
    assert.ok(got, 'the sink did not get the message');
    assert.deepEqual(got.rcptTo, ['ok@nomx.test']);
    assert.match(got.body.toString(), /\r\nSubject: implicit\r\n\r\nhello implicit\r\n$/);
    const stored = await lab.server.running.spool.getMessage(id);
    assert.equal(stored?.recipients[0]?.status, 'delivered');
    assert.equal(stored?.recipients[0]?.route, 'direct');
  });

  it('sends several recipients of one domain in one transaction, with a result for each', async () => {
    const id = await lab.submit('sender@dump.test', ['a@d1.test', 'b@d1.test', 'c@d2.test']);
    await lab.waitFor(isType('delivered', id, 'a@d1.test'));
    await lab.waitFor(isType('delivered', id, 'b@d1.test'));
    await lab.waitFor(isType('delivered', id, 'c@d2.test'));
    const copies = lab.sinks.ok.messages.filter((m) => m.body.includes(`id ${id}`));
    assert.equal(copies.length, 2);
    assert.deepEqual(copies.map((m) => [...m.rcptTo].sort().join(',')).sort(), [
      'a@d1.test,b@d1.test',
      'c@d2.test',
    ]);
  });

  it('bounces a refused recipient with an RFC 3464 report carrying the remote words', async () => {
    const id = await lab.submit(
      'sender@dump.test',
      ['gone@hard.test'],
      'Subject: to a gone user\r\nMessage-ID: <orig-1@app.example>\r\n\r\nbody\r\n',
    );
    const bounced = await lab.waitFor(isType('bounced', id, 'gone@hard.test'));
    assert.equal(bounced.reply.code, 550);
    assert.equal(bounced.reply.enhanced, '5.1.1');
    const { message, text } = await reportFor(lab, id);
    assert.equal(message.mailFrom, '');
    assert.deepEqual(message.rcptTo, ['sender@dump.test']);
    assert.match(text, /Content-Type: multipart\/report; report-type=delivery-status;/);
    assert.match(text, /Content-Type: message\/delivery-status/);
    assert.match(text, /Reporting-MTA: dns; ?mx\.mxpress\.test/);
    assert.match(text, /Final-Recipient: rfc822; ?gone@hard\.test/);
    assert.match(text, /Action: failed/);
    assert.match(text, /Status: 5\.1\.1/);
    assert.match(text, /Remote-MTA: dns; ?mx\.hard\.test/);
    assert.match(text, /Diagnostic-Code: smtp; ?550 5\.1\.1 No such user here/);
    assert.match(text, /Message-ID: <orig-1@app\.example>/);
  });

  it('fails a null-MX domain at once with 556 5.1.10 and no connection', async () => {
    const id = await lab.submit('sender@dump.test', ['any@nullmx.test']);
    const bounced = await lab.waitFor(isType('bounced', id, 'any@nullmx.test'));
    assert.equal(bounced.reply.code, 556);
    assert.equal(bounced.reply.enhanced, '5.1.10');
    assert.equal(bounced.attempt, undefined);
    const { text } = await reportFor(lab, id);
    assert.match(text, /Status: 5\.1\.10/);
  });

  it('treats NXDOMAIN as permanent (5.1.2) and SERVFAIL as temporary (4.4.3)', async () => {
    const nx = await lab.submit('sender@dump.test', ['x@no-such-domain.test']);
    const bounced = await lab.waitFor(isType('bounced', nx));
    assert.equal(bounced.reply.enhanced, '5.1.2');
    const sf = await lab.submit('sender@dump.test', ['x@servfail.test']);
    const deferred = await lab.waitFor(isType('deferred', sf));
    assert.equal(deferred.attempt.reply?.enhanced ?? '4.4.3', '4.4.3');
    assert.ok(deferred.nextAttemptAt > deferred.at);
  });

  it('tries the next MX when the preferred one refuses connections', async () => {
    const id = await lab.submit('sender@dump.test', ['u@multi.test']);
    const event = await lab.waitFor(isType('delivered', id));
    assert.equal(event.attempt.mxHost, 'mx2.multi.test');
  });

  it('retries only the pending recipients and expires them with a report quoting the last reply', async () => {
    const id = await lab.submit('sender@dump.test', ['ok@d3.test', 'full@soft.test']);
    await lab.waitFor(isType('delivered', id, 'ok@d3.test'));
    const first = await lab.waitFor(isType('deferred', id, 'full@soft.test'));
    assert.equal(first.attempt.reply?.code, 452);
    const expired = await lab.waitFor(isType('expired', id, 'full@soft.test'), 10_000);
    assert.equal(expired.lastReply?.enhanced, '4.2.2');
    const deferrals = lab.events.filter(
      (e): e is DeferredEvent => e.type === 'deferred' && e.messageId === id,
    );
    assert.ok(deferrals.length >= 2, `expected retries, saw ${deferrals.length} deferrals`);
    assert.equal(
      lab.sinks.ok.messages.filter((m) => m.body.includes(`id ${id}`)).length,
      1,
      'the delivered recipient was sent again',
    );
    const { text } = await reportFor(lab, id);
    assert.match(text, /Final-Recipient: rfc822; ?full@soft\.test/);
    assert.doesNotMatch(text, /Final-Recipient: rfc822; ?ok@d3\.test/);
    assert.match(text, /Action: failed/);
    assert.match(text, /Status: 4\.2\.2/);
    assert.match(text, /452 4\.2\.2 Mailbox full, try later/);
  });

  it('expires a site that refuses connections, backing it off as a whole', async () => {
    const ids = await Promise.all([0, 1, 2].map((i) => lab.submit('sender@dump.test', [`x${i}@down.test`])));
    for (const id of ids) {
      const e: ExpiredEvent = await lab.waitFor(isType('expired', id), 10_000);
      assert.equal(e.type, 'expired');
      const { text } = await reportFor(lab, id);
      assert.match(text, /Action: failed/);
      assert.match(text, /ECONNREFUSED|refused/i);
    }
  });

  it('defers when the MX hangs up after the final dot', async () => {
    const id = await lab.submit('sender@dump.test', ['u@drop.test']);
    const deferred = await lab.waitFor(isType('deferred', id));
    assert.ok(deferred.attempt.errorCode, 'a deferral without a local error code');
  });

  it('sends one report covering all failed recipients, and none for a null sender', async () => {
    const id = await lab.submit('sender@dump.test', ['a@hard.test', 'b@hard.test']);
    await lab.waitFor(isType('bounced', id, 'a@hard.test'));
    await lab.waitFor(isType('bounced', id, 'b@hard.test'));
    const { text } = await reportFor(lab, id);
    assert.match(text, /Final-Recipient: rfc822; ?a@hard\.test/);
    assert.match(text, /Final-Recipient: rfc822; ?b@hard\.test/);
    assert.equal(lab.events.filter((e) => e.type === 'dsn-sent' && e.messageId === id).length, 1);

    const nullSender = await lab.submit('', ['c@hard.test']);
    await lab.waitFor(isType('bounced', nullSender));
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(lab.events.filter((e) => e.type === 'dsn-sent' && e.messageId === nullSender).length, 0);
  });

  it('refuses to send 8-bit content to a server without 8BITMIME (5.6.3) and passes DSN parameters on', async () => {
    const id = await lab.submit(
      'sender@dump.test',
      ['u@seven.test'],
      'Subject: caf\xc3\xa9\r\n\r\nd\xc3\xa9j\xc3\xa0 vu\r\n',
    );
    const bounced: BouncedEvent = await lab.waitFor(isType('bounced', id));
    assert.equal(bounced.reply.enhanced, '5.6.3');
    const dsn = await lab.submit(
      'sender@dump.test',
      ['n@d4.test'],
      undefined,
      ' NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;n@d4.test',
    );
    const delivered: DeliveredEvent = await lab.waitFor(isType('delivered', dsn));
    assert.equal(delivered.attempt.ip, '127.0.0.2');
    const got = lab.sinks.ok.messages.find((m) => m.body.includes(`id ${dsn}`));
    assert.match(got?.rcptParams[0] ?? '', /NOTIFY=SUCCESS,FAILURE/);
    assert.match(got?.rcptParams[0] ?? '', /ORCPT=rfc822;n@d4\.test/);
  });

  it('reuses connections for a run of messages to one destination', async () => {
    const before = lab.sinks.ok.connectionCount;
    const ids: string[] = [];
    for (let i = 0; i < 12; i++) ids.push(await lab.submit('sender@dump.test', [`r${i}@d4.test`]));
    for (const id of ids) await lab.waitFor(isType('delivered', id));
    const used = lab.sinks.ok.connectionCount - before;
    assert.ok(used < ids.length, `12 messages used ${used} connections`);
  });

  it('reports all failed recipients of a message in one report, after the last domain settled', async () => {
    const id = await lab.submit('sender@dump.test', [
      'all@hard.test',
      'b@nullmx.test',
      'c@soft.test',
      'ok@d2.test',
    ]);
    await lab.waitFor(isType('bounced', id, 'all@hard.test'));
    await lab.waitFor(isType('expired', id, 'c@soft.test'), 10_000);
    const { text } = await reportFor(lab, id);
    for (const r of ['all@hard.test', 'b@nullmx.test', 'c@soft.test'])
      assert.match(text, new RegExp(`Final-Recipient: rfc822; ?${r.replace('.', '\\.')}`));
    assert.doesNotMatch(text, /Final-Recipient: rfc822; ?ok@d2\.test/);
    // The recipient refused long before the report carries its own remote words too.
    const hard = text.slice(text.indexOf('Final-Recipient: rfc822; all@hard.test')).split(/\r?\n\r?\n/)[0]!;
    assert.match(hard, /Remote-MTA: dns; ?mx\.hard\.test/);
    assert.match(hard, /Diagnostic-Code: smtp; ?550 5\.1\.1/);
    assert.match(hard, /Last-Attempt-Date: /);
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(lab.events.filter((e) => e.type === 'dsn-sent' && e.messageId === id).length, 1);
  });

  it('sends a delay notice on the first deferral when NOTIFY asked for DELAY', async () => {
    const id = await lab.submit('sender@dump.test', ['d@soft.test'], undefined, ' NOTIFY=DELAY,FAILURE');
    const { event, text } = await reportFor(lab, id);
    assert.equal(event.action, 'delayed');
    assert.match(text, /Action: delayed/);
    assert.match(text, /Will-Retry-Until: /);
    assert.match(text, /Diagnostic-Code: smtp; ?452 4\.2\.2 Mailbox full, try later/);
  });

  it('reports success only when NOTIFY asked for it and the next hop could not carry DSN on', async () => {
    const relayed = await lab.submit('sender@dump.test', ['s@nodsn.test'], undefined, ' NOTIFY=SUCCESS');
    const { event, text } = await reportFor(lab, relayed);
    assert.equal(event.action, 'relayed');
    assert.match(text, /Action: relayed/);
    const passedOn = await lab.submit('sender@dump.test', ['s@d1.test'], undefined, ' NOTIFY=SUCCESS');
    await lab.waitFor(isType('delivered', passedOn));
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(
      lab.events.filter((e) => e.type === 'dsn-sent' && e.messageId === passedOn).length,
      0,
      'the DSN-capable next hop reports success itself',
    );
  });
});

describe('delay warnings (delivery.delayWarningAfter)', () => {
  let lab: DeliveryLab;
  before(async () => {
    // Retries at 300 ms, then every 500 ms; expiry at 2.5 s; a warning once a message is 600 ms old.
    lab = await startDeliveryLab({
      mutate: (config) => ({ ...config, delivery: { ...config.delivery, delayWarningAfterMs: 600 } }),
    });
  });
  after(async () => {
    await lab.close();
  });

  it('a recipient without NOTIFY gets exactly one delay warning, then the failure report', async () => {
    const id = await lab.submit('sender@dump.test', ['w@soft.test']);
    const { event, text } = await reportFor(lab, id);
    assert.equal(event.action, 'delayed');
    assert.deepEqual(event.recipients, ['w@soft.test']);
    assert.match(text, /Action: delayed/);
    assert.match(text, /Diagnostic-Code: smtp; ?452 4\.2\.2 Mailbox full, try later/);
    await lab.waitFor(isType('expired', id, 'w@soft.test'), 8000);
    await lab.waitForEvent((e) => e.type === 'dsn-sent' && e.messageId === id && e.action === 'failed', 8000);
    const deferrals = lab.events.filter((e) => e.type === 'deferred' && e.messageId === id).length;
    assert.ok(deferrals >= 3, `deferred ${deferrals} times`);
    const reports = lab.events.filter((e): e is DsnSentEvent => e.type === 'dsn-sent' && e.messageId === id);
    assert.deepEqual(
      reports.map((r) => r.action),
      ['delayed', 'failed'],
    );
  });

  it('NOTIFY=FAILURE (no DELAY) is not warned', async () => {
    const id = await lab.submit('sender@dump.test', ['n@soft.test'], undefined, ' NOTIFY=FAILURE');
    await lab.waitForEvent((e) => e.type === 'dsn-sent' && e.messageId === id && e.action === 'failed', 8000);
    const reports = lab.events.filter((e): e is DsnSentEvent => e.type === 'dsn-sent' && e.messageId === id);
    assert.deepEqual(
      reports.map((r) => r.action),
      ['failed'],
    );
  });
});
