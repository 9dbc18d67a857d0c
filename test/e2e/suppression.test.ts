/**
 * The suppression list end to end: a hard bounce puts the address on the list
 * (with an event), and the next message to it is refused at RCPT with a 550 that
 * says why; the operator can add and remove addresses over the HTTP API.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type DeliveryLab, startDeliveryLab } from '../harness/delivery-lab.ts';
import { rawSession } from '../harness/raw-session.ts';

async function rcptReply(port: number, address: string): Promise<string> {
  const s = await rawSession(port);
  try {
    await s.expect(220);
    await s.command('EHLO app.example', 250);
    await s.command('MAIL FROM:<sender@dump.test>', 250);
    s.send(`RCPT TO:<${address}>\r\n`);
    const reply = await s.reply();
    assert.ok(reply);
    return reply.lines.join('\n');
  } finally {
    s.close();
  }
}

describe('suppression list', () => {
  let lab: DeliveryLab;
  let api = '';
  before(async () => {
    lab = await startDeliveryLab();
    api = `http://127.0.0.1:${lab.server.running.http!.port}`;
  });
  after(async () => {
    await lab.close();
  });

  it('adds a hard-bounced address and refuses it at RCPT with the reason', async () => {
    const id = await lab.submit('sender@dump.test', ['gone@hard.test']);
    const bounced = await lab.waitForEvent((e) => e.type === 'bounced' && e.messageId === id);
    assert.equal(bounced.type === 'bounced' && bounced.classification?.severity, 'hard');
    assert.equal(bounced.type === 'bounced' && bounced.classification?.category, 'bad-mailbox');
    assert.match(
      (bounced.type === 'bounced' && bounced.classification?.explanation?.cause) || '',
      /\w+/,
      'the event carries no explanation',
    );
    const added = await lab.waitForEvent(
      (e) => e.type === 'suppression-added' && 'address' in e && e.address === 'gone@hard.test',
    );
    assert.ok(added.seq > bounced.seq, `the published event is the stored one (seq ${added.seq})`);
    const reply = await rcptReply(lab.server.port, 'gone@hard.test');
    assert.match(reply, /^550 5\.1\.1 /);
    assert.match(reply, /No such user here/);
    // A soft failure does not suppress.
    assert.match(await rcptReply(lab.server.port, 'full@soft.test'), /^250 /);
  });

  it('lets the operator add and remove addresses over the API', async () => {
    const add = await fetch(`${api}/api/v1/suppressions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ address: 'Blocked@D1.test', reason: 'asked us to stop' }),
    });
    assert.ok(add.status === 200 || add.status === 201, `POST gave ${add.status}`);
    assert.match(await rcptReply(lab.server.port, 'blocked@d1.test'), /^550 5\.7\.1 .*asked us to stop/);
    const del = await fetch(`${api}/api/v1/suppressions/${encodeURIComponent('blocked@d1.test')}`, {
      method: 'DELETE',
    });
    assert.ok(del.status === 200 || del.status === 204, `DELETE gave ${del.status}`);
    assert.match(await rcptReply(lab.server.port, 'blocked@d1.test'), /^250 /);
  });
});
