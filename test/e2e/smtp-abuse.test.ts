/**
 * Abuse controls end to end, through raw SMTP sessions against a real mxpress:
 * AUTH lockouts per IP and per user name (454 4.7.0) with the pause before each
 * 535, message and recipient rate limits (450 4.7.1), the mailbomb guard, and
 * per-user allowed senders (553 5.7.1). Clients come from distinct loopback
 * addresses (untrusted: only 127.0.0.1 is a trusted network here), so the tests
 * do not share counters.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { hashPassword } from '../../src/config/password.ts';
import { startTestServer, type TestServer } from '../harness/mxpress.ts';
import { type RawSession, rawSession } from '../harness/raw-session.ts';

const PASSWORD = 's3cret pass';
const FAILURE_DELAY_MS = 200;
const LOCKED = '454 4.7.0 Too many failed authentications, try later';

function plain(user: string, password: string): string {
  return `AUTH PLAIN ${Buffer.from(`\0${user}\0${password}`).toString('base64')}`;
}

async function client(server: TestServer, localAddress: string): Promise<RawSession> {
  const s = await rawSession(server.port, { localAddress });
  await s.expect(220);
  await s.command('EHLO client.example', 250);
  return s;
}

async function authed(server: TestServer, localAddress: string, user: string): Promise<RawSession> {
  const s = await client(server, localAddress);
  await s.command(plain(user, PASSWORD), 235);
  return s;
}

describe('abuse controls', () => {
  let server: TestServer;
  before(async () => {
    const passwordHash = await hashPassword(PASSWORD);
    const user = (username: string, allowedSenders?: string[]) => ({
      username,
      passwordHash,
      ...(allowedSenders ? { allowedSenders } : {}),
    });
    server = await startTestServer({
      argv: ['--dns-server', '127.0.0.1:9', '--trusted-network', '127.0.0.1/32'],
      mutate: (c) => ({
        ...c,
        smtp: {
          ...c.smtp,
          users: [
            user('app'),
            user('victim'),
            user('bomb'),
            user('counted'),
            user('shop', ['shop.example', 'ceo@corp.example']),
          ],
          abuse: {
            ...c.smtp.abuse,
            auth: {
              ...c.smtp.abuse.auth,
              maxFailuresPerIp: 3,
              maxFailuresPerUser: 4,
              failureDelayMs: FAILURE_DELAY_MS,
            },
            perIp: { messagesPerMinute: 3, recipientsPerMinute: 5 },
            perUser: { messagesPerMinute: 4, recipientsPerMinute: 100 },
            mailbombPerHour: 2,
          },
        },
      }),
    });
  });
  after(async () => {
    await server.stop();
  });

  it('locks an IP out of AUTH after repeated failures, each answered after a pause; other IPs are unaffected', async () => {
    const s = await client(server, '127.0.0.21');
    for (let i = 0; i < 3; i++) {
      const started = performance.now();
      await s.command(plain('app', `wrong ${i}`), 535);
      const took = performance.now() - started;
      assert.ok(took >= FAILURE_DELAY_MS - 20, `535 came after ${took.toFixed(0)} ms`);
    }
    s.send(`${plain('app', PASSWORD)}\r\n`);
    const locked = await s.reply();
    assert.deepEqual(locked?.lines, [LOCKED]);
    await s.command('AUTH LOGIN', 454);
    s.close();
    const again = await client(server, '127.0.0.21');
    await again.command(plain('app', PASSWORD), 454);
    again.close();
    const other = await authed(server, '127.0.0.22', 'app');
    other.close();
  });

  it('locks a user name after failures from many IPs, also for the right password; other names still work', async () => {
    for (let i = 0; i < 4; i++) {
      const s = await client(server, `127.0.0.${31 + i}`);
      await s.command(plain('victim', 'guess'), 535);
      s.close();
    }
    const s = await client(server, '127.0.0.35');
    await s.command(plain('victim', PASSWORD), 454);
    await s.command(plain('app', PASSWORD), 235);
    s.close();
    const unknown = await client(server, '127.0.0.36');
    await unknown.command(plain('nobody', 'x'), 535);
    unknown.close();
  });

  it('limits messages per client IP with 450 4.7.1 at MAIL; trusted clients are not limited by default', async () => {
    const s = await client(server, '127.0.0.41');
    for (let i = 0; i < 3; i++) {
      await s.command(`MAIL FROM:<n${i}@sender.example>`, 250);
      await s.command('RSET', 250);
    }
    const refused = await s.command('MAIL FROM:<n3@sender.example>', 450);
    assert.match(refused.join(' '), /^450 4\.7\.1 .*rate limit/);
    s.close();
    const trusted = await client(server, '127.0.0.1');
    for (let i = 0; i < 6; i++) {
      await trusted.command(`MAIL FROM:<t${i}@sender.example>`, 250);
      await trusted.command('RSET', 250);
    }
    trusted.close();
  });

  it('limits messages per authenticated user across IPs', async () => {
    for (const ip of ['127.0.0.51', '127.0.0.52']) {
      const s = await authed(server, ip, 'counted');
      await s.command('MAIL FROM:<a@counted.example>', 250);
      await s.command('RSET', 250);
      await s.command('MAIL FROM:<b@counted.example>', 250);
      s.close();
    }
    const s = await authed(server, '127.0.0.53', 'counted');
    const refused = await s.command('MAIL FROM:<c@counted.example>', 450);
    assert.match(refused.join(' '), /user rate limit/);
    s.close();
  });

  it('limits recipients per IP and one sender to one recipient per hour (mailbomb guard)', async () => {
    const s = await authed(server, '127.0.0.61', 'bomb');
    await s.command('MAIL FROM:<bomber@bomb.example>', 250);
    await s.command('RCPT TO:<target@dest.example>', 250);
    await s.command('RCPT TO:<Target@dest.example>', 250);
    const bomb = await s.command('RCPT TO:<target@dest.example>', 450);
    assert.match(bomb.join(' '), /^450 4\.7\.1 .*per-recipient/);
    await s.command('RCPT TO:<other1@dest.example>', 250);
    await s.command('RCPT TO:<other2@dest.example>', 250);
    await s.command('RCPT TO:<other3@dest.example>', 250);
    const perIp = await s.command('RCPT TO:<other4@dest.example>', 450);
    assert.match(perIp.join(' '), /client rate limit/);
    s.close();
  });

  it('lets a user send only as its allowed senders, and accepts a message from one', async () => {
    const s = await authed(server, '127.0.0.71', 'shop');
    const refused = await s.command('MAIL FROM:<cfo@corp.example>', 553);
    assert.deepEqual(refused, ['553 5.7.1 Sender address not allowed for this user']);
    await s.command('MAIL FROM:<>', 553);
    await s.command('MAIL FROM:<ceo@corp.example>', 250);
    await s.command('RSET', 250);
    await s.command('MAIL FROM:<orders@Shop.Example>', 250);
    await s.command('RCPT TO:<customer@dest.example>', 250);
    await s.command('DATA', 354);
    const queued = await s.command('Subject: order\r\n\r\nThanks.\r\n.', 250);
    assert.match(queued.join(' '), /queued as/);
    s.close();
  });
});
