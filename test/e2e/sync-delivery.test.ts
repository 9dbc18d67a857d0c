/**
 * `deliveryMode: sync` listeners: the DATA reply carries the recipient server's
 * verdict. A refusal of every recipient is answered with the remote's own reply
 * (and then no bounce report follows); anything else is a 250 saying what happened.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type DeliveryLab, startDeliveryLab, withSyncListener } from '../harness/delivery-lab.ts';
import { rawSession } from '../harness/raw-session.ts';

async function sendSync(port: number, to: readonly string[]): Promise<{ code: number; text: string }> {
  const s = await rawSession(port);
  try {
    await s.expect(220);
    await s.command('EHLO app.example', 250);
    await s.command('MAIL FROM:<sender@dump.test>', 250);
    for (const r of to) await s.command(`RCPT TO:<${r}>`, 250);
    await s.command('DATA', 354);
    s.send('Subject: sync\r\n\r\nwaiting for the verdict\r\n.\r\n');
    const reply = await s.reply(10_000);
    assert.ok(reply);
    return { code: reply.code, text: reply.lines.join('\n') };
  } finally {
    s.close();
  }
}

describe('sync delivery', () => {
  let lab: DeliveryLab;
  let port = 0;
  before(async () => {
    lab = await startDeliveryLab({ mutate: withSyncListener(5000) });
    port = lab.server.running.listeners[1]!.port;
  });
  after(async () => {
    await lab.close();
  });

  it('answers 250 once the recipient server accepted', async () => {
    const reply = await sendSync(port, ['ok@d3.test']);
    assert.equal(reply.code, 250);
    assert.match(
      reply.text,
      /^250 2\.0\.0 Ok: delivered to ok@d3\.test by mx\.d3\.test; queue id [0-9A-Z]{26}$/,
    );
  });

  it("answers a refusal with the remote's own reply and the MX that said it, and sends no report", async () => {
    const reply = await sendSync(port, ['gone@hard.test']);
    assert.equal(reply.code, 550);
    assert.match(
      reply.text,
      /^550 5\.1\.1 <gone@hard\.test> mx\.hard\.test said: 550 5\.1\.1 No such user here; queue id ([0-9A-Z]{26})$/,
    );
    const id = /queue id ([0-9A-Z]{26})/.exec(reply.text)![1]!;
    await lab.waitForEvent((e) => e.type === 'bounced' && e.messageId === id);
    await new Promise((resolve) => setTimeout(resolve, 500));
    assert.equal(
      lab.events.filter((e) => e.type === 'dsn-sent' && e.messageId === id).length,
      0,
      'a report followed a refusal the client already got',
    );
  });

  it('answers 250 with a summary for mixed outcomes, and the refused part is reported', async () => {
    const reply = await sendSync(port, ['ok@d1.test', 'mixed@hard.test', 'full@soft.test']);
    assert.equal(reply.code, 250);
    assert.match(
      reply.text,
      /Ok: queued as ([0-9A-Z]{26}); delivered 1; refused 1 \(<mixed@hard\.test>: 550 5\.1\.1 No such user here; a report follows\); 1 still queued and retried/,
    );
    const id = /queued as ([0-9A-Z]{26})/.exec(reply.text)![1]!;
    await lab.waitForEvent((e) => e.type === 'dsn-sent' && e.messageId === id);
  });

  it('answers with the 556 of a null-MX domain at once', async () => {
    const reply = await sendSync(port, ['any@nullmx.test']);
    assert.equal(reply.code, 556);
    assert.match(
      reply.text,
      /^556 5\.1\.10 <any@nullmx\.test> 556 5\.1\.10 Domain nullmx\.test does not accept mail/,
    );
  });
});
