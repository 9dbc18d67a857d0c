/**
 * The SMTP ingress thread failing (a bug) does not take mxpress down: its sessions
 * are cut, the main thread starts another thread on the same port, and that one
 * accepts and queues mail, sees suppression changes made after it started, and
 * delivers; mail acknowledged before the failure is delivered too. On a
 * `deliveryMode: sync` listener, the verdict a dead thread's session waited for is
 * not handed to a session of the new thread (whose questions are numbered afresh).
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type DeliveryLab, startDeliveryLab, withSyncListener } from '../harness/delivery-lab.ts';
import { type RawSession, rawSession } from '../harness/raw-session.ts';

const failingModule = new URL('../harness/failing-ingress-worker.ts', import.meta.url);

/** Connects until a 220 greeting comes (the restarted thread), at most `timeoutMs`. */
async function greeted(port: number, timeoutMs: number): Promise<number> {
  const started = Date.now();
  for (;;) {
    try {
      const s = await rawSession(port);
      const reply = await s.reply(1000);
      s.close();
      if (reply?.code === 220) return Date.now() - started;
    } catch {
      // refused while no thread listens
    }
    if (Date.now() - started > timeoutMs) throw new Error(`no 220 on port ${port} within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe('SMTP ingress thread failure', () => {
  let lab: DeliveryLab;
  const dir = mkdtempSync(join(tmpdir(), 'mxpress-ingress-cue-'));
  const cue = join(dir, 'fail');
  const startCue = join(dir, 'fail-start');
  before(async () => {
    process.env.MXPRESS_TEST_INGRESS_FAIL_FILE = cue;
    process.env.MXPRESS_TEST_INGRESS_FAIL_START_FILE = startCue;
    lab = await startDeliveryLab({ ingressModule: failingModule });
  });
  after(async () => {
    delete process.env.MXPRESS_TEST_INGRESS_FAIL_FILE;
    delete process.env.MXPRESS_TEST_INGRESS_FAIL_START_FILE;
    await lab.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('is replaced by a new thread on the same port, and no acknowledged mail is lost', async () => {
    const port = lab.server.port;
    const before = await lab.submit('sender@dump.test', ['a@d1.test']);
    // A session that is open when the thread fails: cut, not hung.
    const open = await rawSession(port);
    await open.expect(220);
    await open.command('EHLO app.example', 250);
    await open.command('MAIL FROM:<sender@dump.test>', 250);

    writeFileSync(cue, '');
    assert.equal(await open.closed(5000), true, 'the session of the failed thread was not cut');
    const tookMs = await greeted(port, 10_000);
    assert.equal(lab.server.running.listeners[0]!.port, port);

    const afterRestart = await lab.submit('sender@dump.test', ['b@d2.test']);
    for (const id of [before, afterRestart]) {
      await lab.waitForEvent((e) => e.type === 'delivered' && e.messageId === id);
    }

    // The new thread mirrors suppression changes made after it started.
    const api = `http://127.0.0.1:${lab.server.running.http!.port}`;
    const add = await fetch(`${api}/api/v1/suppressions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ address: 'late@d3.test', reason: 'asked us to stop' }),
    });
    assert.ok(add.status === 200 || add.status === 201, `POST gave ${add.status}`);
    const s = await rawSession(port);
    try {
      await s.expect(220);
      await s.command('EHLO app.example', 250);
      await s.command('MAIL FROM:<sender@dump.test>', 250);
      let refused = false;
      for (let i = 0; i < 50 && !refused; i++) {
        s.send('RCPT TO:<late@d3.test>\r\n');
        const reply = await s.reply();
        refused = reply?.code === 550;
        if (!refused) {
          await s.command('RSET', 250);
          await s.command('MAIL FROM:<sender@dump.test>', 250);
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
      }
      assert.ok(refused, 'the restarted thread did not see the new suppression');
    } finally {
      s.close();
    }
    console.log(`ℹ serving again ${tookMs} ms after the failure`);
  });
  it('tries again when the replacement fails to start', async () => {
    const port = lab.server.port;
    writeFileSync(startCue, '');
    writeFileSync(cue, '');
    // The first replacement takes the start cue and fails; the next one must serve.
    const deadline = Date.now() + 5000;
    while (existsSync(startCue) && Date.now() < deadline)
      await new Promise((resolve) => setTimeout(resolve, 20));
    assert.equal(existsSync(startCue), false, 'no replacement was started');
    const tookMs = await greeted(port, 15_000);
    const id = await lab.submit('sender@dump.test', ['c@d1.test']);
    await lab.waitForEvent((e) => e.type === 'delivered' && e.messageId === id);
    console.log(`ℹ serving again ${tookMs} ms after the failed replacement`);
  });
});

/** Opens a session and sends one message to `to`, up to its final dot; the reply is the caller's to read. */
async function sendMessage(port: number, to: string): Promise<RawSession> {
  const s = await rawSession(port);
  await s.expect(220);
  await s.command('EHLO app.example', 250);
  await s.command('MAIL FROM:<sender@dump.test>', 250);
  await s.command(`RCPT TO:<${to}>`, 250);
  await s.command('DATA', 354);
  s.send(`Subject: for ${to}\r\n\r\nwaits for its verdict\r\n.\r\n`);
  return s;
}

describe('SMTP ingress thread failure during sync delivery', () => {
  let lab: DeliveryLab;
  let port = 0;
  const dir = mkdtempSync(join(tmpdir(), 'mxpress-ingress-cue-'));
  const cue = join(dir, 'fail');
  before(async () => {
    process.env.MXPRESS_TEST_INGRESS_FAIL_FILE = cue;
    lab = await startDeliveryLab({ ingressModule: failingModule, mutate: withSyncListener(30_000) });
    port = lab.server.running.listeners[1]!.port;
  });
  after(async () => {
    delete process.env.MXPRESS_TEST_INGRESS_FAIL_FILE;
    await lab.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("gives a new thread's session its own verdict, not the one a dead thread's session waited for", async () => {
    // The first message's verdict (delivered) comes after some 3 s; the second's
    // (refused) only some 6 s after it was asked, so the first lands while the
    // second waits.
    lab.sinks.ok.setScript({ replyDelayMs: 800 });
    lab.sinks.hard.setScript({ replyDelayMs: 1500, onRcpt: () => '550 5.1.1 No such user here' });

    const first = await sendMessage(port, 'first@d1.test');
    const received = await lab.waitForEvent((e) => e.type === 'received');
    // The question follows the commit at once; then the thread fails.
    await new Promise((resolve) => setTimeout(resolve, 200));
    writeFileSync(cue, '');
    assert.equal(await first.closed(5000), true, 'the session of the failed thread was not cut');
    await greeted(port, 10_000);

    const second = await sendMessage(port, 'second@hard.test');
    try {
      const reply = await second.reply(20_000);
      const delivered = lab.events.find((e) => e.type === 'delivered' && e.messageId === received.messageId);
      assert.ok(delivered, "the first message's verdict had not come before the second's reply");
      assert.equal(reply?.code, 550, `the second session got ${reply?.lines.join(' | ')}`);
      assert.match(reply.lines.join('\n'), /No such user here/);
    } finally {
      second.close();
    }
  });
});

describe('SMTP ingress thread failure, then a stop before the replacement', () => {
  let lab: DeliveryLab;
  const dir = mkdtempSync(join(tmpdir(), 'mxpress-ingress-cue-'));
  const cue = join(dir, 'fail');
  before(async () => {
    process.env.MXPRESS_TEST_INGRESS_FAIL_FILE = cue;
    lab = await startDeliveryLab({ ingressModule: failingModule });
  });
  after(async () => {
    delete process.env.MXPRESS_TEST_INGRESS_FAIL_FILE;
    await lab.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('stops at once when no ingress thread is running', async () => {
    const open = await rawSession(lab.server.port);
    await open.expect(220);
    writeFileSync(cue, '');
    assert.equal(await open.closed(5000), true, 'the session of the failed thread was not cut');
    // Within the pause before a replacement starts: nothing to close or drain there.
    const started = Date.now();
    const outcome = await Promise.race([
      lab.server.stop().then(() => 'stopped'),
      new Promise((resolve) => setTimeout(resolve, 5000, 'still stopping')),
    ]);
    assert.equal(outcome, 'stopped');
    console.log(`ℹ stopped ${Date.now() - started} ms after the thread failed`);
  });
});
