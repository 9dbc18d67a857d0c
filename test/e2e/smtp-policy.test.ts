/**
 * Relay control, STARTTLS, AUTH, limits and trace headers of the SMTP server,
 * through real sockets against a real mxpress.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { hashPassword } from '../../src/config/password.ts';
import type { Config } from '../../src/config/types.ts';
import type { LifecycleEvent } from '../../src/contracts/events.ts';
import { settled } from '../harness/eventually.ts';
import { startTestServer, type TestServer } from '../harness/mxpress.ts';
import { rawSession } from '../harness/raw-session.ts';

/** The classic relay-test forms (with `<>` as the sender of the first). */
export const RELAY_VARIANTS: readonly string[] = [
  '<victim@example.org>',
  '<victim%example.org@mx.mxpress.test>',
  '<"victim@example.org">',
  '<"victim@example.org"@mx.mxpress.test>',
  '<victim@example.org@mx.mxpress.test>',
  '<@mx.mxpress.test:victim@example.org>',
  '<example.org!victim>',
  '<example.org!victim@mx.mxpress.test>',
  '<victim%example.org>',
  '<"victim%example.org"@mx.mxpress.test>',
  '<victim@[127.0.0.1]>',
  '<"victim@example.org"@[127.0.0.1]>',
  '<victim%example.org@[127.0.0.1]>',
  '<@[127.0.0.1]:victim@example.org>',
  '<victim@example.org.>',
  '<victim@mx.mxpress.test>',
];

/** An mxpress with no usable DNS (nothing here is delivered) and some SMTP limits changed. */
function startWithLimits(limits: Partial<Config['smtp']['limits']>): Promise<TestServer> {
  return startTestServer({
    argv: ['--dns-server', '127.0.0.1:9'],
    mutate: (c) => ({ ...c, smtp: { ...c.smtp, limits: { ...c.smtp.limits, ...limits } } }),
  });
}

function received(server: TestServer): LifecycleEvent[] {
  const list: LifecycleEvent[] = [];
  server.running.events.subscribe((e) => {
    if (e.type === 'received') list.push(e);
  });
  return list;
}

describe('relay control', () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer({
      argv: ['--dns-server', '127.0.0.1:9', '--trusted-network', '127.0.0.1/32'],
    });
  });
  after(async () => {
    await server.stop();
  });

  for (const [i, rcpt] of RELAY_VARIANTS.entries()) {
    it(`refuses ${rcpt} from an untrusted client`, async () => {
      const s = await rawSession(server.port, { localAddress: '127.0.0.9' });
      await s.expect(220);
      await s.command('EHLO relay-tester.example', 250);
      await s.command(i === 0 ? 'MAIL FROM:<>' : 'MAIL FROM:<spammer@example.net>', 250);
      s.send(`RCPT TO:${rcpt}\r\n`);
      const reply = await s.reply();
      assert.ok(reply && reply.code >= 500, `${rcpt} got ${reply?.lines.join(' | ')}`);
      await s.command('DATA', 554);
      s.close();
    });
  }

  it('lets a trusted client relay (the control case)', async () => {
    const s = await rawSession(server.port, { localAddress: '127.0.0.1' });
    await s.expect(220);
    await s.command('EHLO trusted.example', 250);
    await s.command('MAIL FROM:<app@example.net>', 250);
    await s.command('RCPT TO:<victim@example.org>', 250);
    s.close();
  });
});

describe('STARTTLS and AUTH', () => {
  let server: TestServer;
  before(async () => {
    const hash = await hashPassword('s3cret pass');
    server = await startTestServer({
      argv: ['--dns-server', '127.0.0.1:9', '--trusted-network', '127.0.0.1/32'],
      mutate: (c) => ({ ...c, smtp: { ...c.smtp, users: [{ username: 'app', passwordHash: hash }] } }),
    });
  });
  after(async () => {
    await server.stop();
  });

  it('refuses plaintext commands pipelined after STARTTLS (CVE-2011-0411 class)', async () => {
    const s = await rawSession(server.port);
    await s.expect(220);
    await s.command('EHLO client.example', 250);
    s.send('STARTTLS\r\nMAIL FROM:<injected@example.net>\r\n');
    const reply = await s.reply();
    assert.equal(reply?.code, 554);
    assert.ok(await s.closed());
  });

  it('forgets the session after STARTTLS: EHLO again, no second STARTTLS', async () => {
    const s = await rawSession(server.port);
    await s.expect(220);
    const before = await s.command('EHLO client.example', 250);
    assert.ok(before.some((l) => l.endsWith('STARTTLS')));
    await s.command('STARTTLS', 220);
    await s.startTls();
    await s.command('MAIL FROM:<a@example.net>', 503);
    const after = await s.command('EHLO client.example', 250);
    assert.ok(!after.some((l) => l.endsWith('STARTTLS')), 'STARTTLS offered twice');
    assert.ok(after.some((l) => l.includes('AUTH PLAIN LOGIN')));
    await s.command('STARTTLS', 503);
    s.close();
  });

  it('AUTH PLAIN and LOGIN succeed with the right password; unknown users and wrong passwords get the same 535', async () => {
    const s = await rawSession(server.port, { localAddress: '127.0.0.9' });
    await s.expect(220);
    await s.command('EHLO client.example', 250);
    await s.command('MAIL FROM:<a@example.net>', 250);
    await s.command('RCPT TO:<b@example.org>', 554);
    await s.command('RSET', 250);
    const bad = await s.command(`AUTH PLAIN ${Buffer.from('\0app\0wrong').toString('base64')}`, 535);
    const unknown = await s.command(
      `AUTH PLAIN ${Buffer.from('\0nobody\0s3cret pass').toString('base64')}`,
      535,
    );
    assert.deepEqual(bad, unknown);
    await s.command('AUTH LOGIN', 334);
    await s.command(Buffer.from('app').toString('base64'), 334);
    await s.command(Buffer.from('s3cret pass').toString('base64'), 235);
    await s.command('AUTH PLAIN', 503);
    await s.command('MAIL FROM:<a@example.net>', 250);
    await s.command('RCPT TO:<b@example.org>', 250);
    s.close();
    const p = await rawSession(server.port);
    await p.expect(220);
    await p.command('EHLO client.example', 250);
    await p.command('AUTH PLAIN', 334);
    await p.command(Buffer.from('app\0app\0s3cret pass').toString('base64'), 235);
    p.close();
  });

  it('cancels an AUTH exchange with *', async () => {
    const s = await rawSession(server.port);
    await s.expect(220);
    await s.command('EHLO client.example', 250);
    await s.command('AUTH LOGIN', 334);
    await s.command('*', 501);
    await s.command('NOOP', 250);
    s.close();
  });
});

describe('limits', () => {
  let server: TestServer;
  let events: LifecycleEvent[];
  before(async () => {
    server = await startWithLimits({
      maxRecipients: 3,
      maxMessageSize: 2000,
      idleTimeoutMs: 400,
      maxConnectionsPerClient: 3,
      maxHeaderBytes: 600,
    });
    events = received(server);
  });
  after(async () => {
    await server.stop();
  });

  it('answers 452 4.5.3 past the recipient limit and takes the rest in a later transaction', async () => {
    const s = await rawSession(server.port);
    await s.expect(220);
    await s.command('EHLO client.example', 250);
    await s.command('MAIL FROM:<a@example.net>', 250);
    for (let i = 0; i < 3; i++) await s.command(`RCPT TO:<r${i}@example.org>`, 250);
    const lines = await s.command('RCPT TO:<r3@example.org>', 452);
    assert.match(lines[0]!, /^452 4\.5\.3 /);
    // The three taken go now; the one refused goes in the next transaction.
    await s.command('DATA', 354);
    s.send('Subject: first three\r\n\r\nhi\r\n');
    await s.command('.', 250);
    await s.command('MAIL FROM:<a@example.net>', 250);
    await s.command('RCPT TO:<r3@example.org>', 250);
    await s.command('DATA', 354);
    s.send('Subject: the rest\r\n\r\nhi\r\n');
    await s.command('.', 250);
    s.close();
  });

  it('refuses a declared SIZE over the limit and enforces the size while streaming', async () => {
    const s = await rawSession(server.port);
    await s.expect(220);
    await s.command('EHLO client.example', 250);
    const declared = await s.command('MAIL FROM:<a@example.net> SIZE=5000', 552);
    assert.match(declared[0]!, /^552 5\.3\.4 /);
    await s.command('MAIL FROM:<a@example.net>', 250);
    await s.command('RCPT TO:<oversize@example.org>', 250);
    await s.command('DATA', 354);
    s.send(`Subject: big\r\n\r\n${'x'.repeat(70)}\r\n`.repeat(1));
    s.send(`${'y'.repeat(70)}\r\n`.repeat(60));
    const lines = await s.command('.', 552);
    assert.match(lines[0]!, /^552 5\.3\.4 /);
    // Looked up by its recipient: the previous test's `received` events may still be arriving.
    const stored = () =>
      events.filter((e) => e.type === 'received' && e.recipients.includes('oversize@example.org'));
    await settled(() => stored().length > 0, false);
    assert.deepEqual(stored(), [], 'an oversize message was stored');
    await s.command('NOOP', 250);
    s.close();
  });

  it('refuses an over-long command line and a header section over the limit', async () => {
    const s = await rawSession(server.port);
    await s.expect(220);
    await s.command(`EHLO ${'a'.repeat(3000)}`, 500);
    await s.command('EHLO client.example', 250);
    await s.command('MAIL FROM:<a@example.net>', 250);
    await s.command('RCPT TO:<b@example.org>', 250);
    await s.command('DATA', 354);
    s.send(`${'X-Filler: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n'.repeat(15)}\r\nbody\r\n`);
    const lines = await s.command('.', 552);
    assert.match(lines[0]!, /header/);
    s.close();
  });

  it('closes an idle session with 421 4.4.2', async () => {
    const s = await rawSession(server.port);
    await s.expect(220);
    const lines = await s.expect(421, 3000);
    assert.match(lines[0]!, /^421 4\.4\.2 /);
    assert.ok(await s.closed());
  });

  it('limits connections per client with 421 4.7.0', async () => {
    const open = await Promise.all([0, 1, 2].map(() => rawSession(server.port)));
    for (const s of open) await s.expect(220);
    const extra = await rawSession(server.port);
    const lines = await extra.expect(421);
    assert.match(lines[0]!, /^421 4\.7\.0 /);
    const other = await rawSession(server.port, { localAddress: '127.0.0.2' });
    await other.expect(220);
    for (const s of [...open, extra, other]) s.close();
  });

  it('refuses commands with a bare LF or an embedded CR, and pipelining without EHLO', async () => {
    const s = await rawSession(server.port, { localAddress: '127.0.0.3' });
    await s.expect(220);
    s.send('NOOP\n');
    await s.expect(500);
    s.send('NOOP\rNOOP\r\n');
    await s.expect(500);
    s.send('HELO client.example\r\n');
    await s.expect(250);
    s.send('MAIL FROM:<a@example.net>\r\nRCPT TO:<b@example.org>\r\n');
    await s.expect(554);
    assert.ok(await s.closed());
  });
});

describe('session time limit', () => {
  let server: TestServer;
  before(async () => {
    server = await startWithLimits({ sessionTimeoutMs: 1200, idleTimeoutMs: 60_000 });
  });
  after(async () => {
    await server.stop();
  });

  it('closes a session that keeps talking once its total time is up, with 421 4.4.2', async () => {
    const s = await rawSession(server.port);
    const started = Date.now();
    await s.expect(220);
    await s.command('EHLO client.example', 250);
    // Never idle: a NOOP every 100 ms until the server gives up on the session.
    let last: { code: number; lines: string[] } | undefined;
    while (Date.now() - started < 5000) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      s.send('NOOP\r\n');
      last = await s.reply(1000);
      if (last?.code !== 250) break;
    }
    const elapsed = Date.now() - started;
    assert.equal(last?.code, 421);
    assert.match(last.lines[0]!, /^421 4\.4\.2 .*session time limit/);
    assert.ok(elapsed >= 1200 && elapsed < 3000, `closed after ${elapsed} ms`);
    assert.ok(await s.closed());
  });
});

describe('trace fields', () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer({ argv: ['--dns-server', '127.0.0.1:9'] });
  });
  after(async () => {
    await server.stop();
  });

  async function submit(message: string): Promise<string> {
    const s = await rawSession(server.port);
    await s.expect(220);
    await s.command('EHLO client.example', 250);
    await s.command('MAIL FROM:<a@example.net>', 250);
    await s.command('RCPT TO:<b@example.org>', 250);
    await s.command('DATA', 354);
    s.send(message);
    const lines = await s.command('.', 250);
    s.close();
    const id = /queued as ([0-9A-Z]{26})/.exec(lines[0]!)?.[1];
    assert.ok(id);
    return Buffer.from(await server.running.spool.readBody(id)).toString('utf8');
  }

  it('adds Received always, and Message-ID and Date only when missing', async () => {
    const bare = await submit('Subject: no ids\r\n\r\nhello\r\n');
    assert.match(
      bare,
      /^Received: from client\.example \(unknown \[127\.0\.0\.1\]\)\r\n\tby mx\.mxpress\.test \(mxpress\) with ESMTP id [0-9A-Z]{26}\r\n\tfor <b@example\.org>;\r\n\t\w{3}, \d{1,2} \w{3} \d{4} \d\d:\d\d:\d\d \+0000\r\n/,
    );
    assert.match(
      bare,
      /\r\nDate: .+\r\nMessage-ID: <[0-9A-Z]{26}@mx\.mxpress\.test>\r\nSubject: no ids\r\n\r\nhello\r\n$/,
    );
    const full = await submit(
      'Date: Mon, 1 Jan 2024 00:00:00 +0000\r\nMessage-ID: <x@example.net>\r\nSubject: ids\r\n\r\nhello\r\n',
    );
    assert.equal(full.match(/^Message-ID:/gim)?.length, 1);
    assert.equal(full.match(/^Date:/gim)?.length, 1);
    assert.match(full, /\r\nDate: Mon, 1 Jan 2024 00:00:00 \+0000\r\nMessage-ID: <x@example\.net>\r\n/);
  });
});

describe('spool space', () => {
  let server: TestServer;
  before(async () => {
    // More free space demanded than any disk has: every MAIL must be refused before data is sent.
    server = await startWithLimits({ minFreeBytes: Number.MAX_SAFE_INTEGER });
  });
  after(async () => {
    await server.stop();
  });

  it('answers 452 4.3.1 at MAIL when the spool disk cannot take the message', async () => {
    const s = await rawSession(server.port);
    await s.expect(220);
    await s.command('EHLO client.example', 250);
    const lines = await s.command('MAIL FROM:<a@example.net> SIZE=1000', 452);
    assert.match(lines[0]!, /^452 4\.3\.1 /);
    await s.command('RCPT TO:<b@example.org>', 503);
    s.close();
  });
});

describe('MIME bombs', () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer({ argv: ['--dns-server', '127.0.0.1:9'] });
  });
  after(async () => {
    await server.stop();
  });

  /** A message body nested 200 multipart levels deep, starting with its top-level Content-Type. */
  const bomb = (): string => {
    let body = 'Content-Type: text/plain\r\n\r\ninnermost\r\n';
    for (let i = 200; i >= 1; i--) {
      body = `Content-Type: multipart/mixed; boundary="b${i}"\r\n\r\n--b${i}\r\n${body}--b${i}--\r\n`;
    }
    return body;
  };

  /** A new session at the DATA prompt for one recipient. */
  const atData = async (s?: Awaited<ReturnType<typeof rawSession>>) => {
    const session = s ?? (await rawSession(server.port));
    if (!s) {
      await session.expect(220);
      await session.command('EHLO client.example', 250);
    }
    await session.command('MAIL FROM:<a@example.net>', 250);
    await session.command('RCPT TO:<b@example.org>', 250);
    await session.command('DATA', 354);
    return session;
  };

  it('refuses a message whose MIME parts nest too deeply, and takes a normal multipart one', async () => {
    const s = await atData();
    s.send(`Subject: bomb\r\nMIME-Version: 1.0\r\n${bomb()}`);
    const refused = await s.command('.', 554);
    assert.match(refused[0]!, /^554 5\.6\.0 .*nest/);
    await atData(s);
    s.send(
      'Subject: fine\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\nContent-Type: text/plain\r\n\r\nhi\r\n--x--\r\n',
    );
    await s.command('.', 250);
    s.close();
  });

  it('refuses a MIME bomb whose header section arrives in several TCP segments', async () => {
    const s = await atData();
    // The top-level Content-Type comes in a later segment than the first header line.
    s.send('Subject: bomb in parts\r\n');
    await new Promise((resolve) => setTimeout(resolve, 50));
    s.send(`MIME-Version: 1.0\r\n${bomb()}`);
    const refused = await s.command('.', 554);
    assert.match(refused[0]!, /^554 5\.6\.0 .*nest/);
    s.close();
  });
});
