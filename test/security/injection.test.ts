/**
 * Header and command injection: NUL, CR and LF, raw and xtext-encoded (+0D+0A, +00),
 * in EHLO/HELO, MAIL, RCPT, DSN parameters (ENVID, ORCPT, NOTIFY), AUTH identities
 * and the HTTP API (JSON fields, extra headers, attachment file names, the HTTP
 * request's own header lines), against a real mxpress in the delivery lab.
 *
 * Each poisoned input carries a marker; each must be refused, and at the end the
 * marker and the poison bytes must appear in no stored message (headers, Received),
 * no lifecycle event, not the event log file, and no command mxpress sent onward to
 * the sink (after a clean SMTP and a clean HTTP message were delivered through it).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { hashPassword } from '../../src/config/password.ts';
import { type DeliveryLab, startDeliveryLab } from '../harness/delivery-lab.ts';
import { LineReader } from '../harness/line-reader.ts';
import { type RawSession, rawSession } from '../harness/raw-session.ts';

const MARK = 'Injected-Zq7';
/** Raw bytes inside an SMTP line (CRLF itself only ends the line, so it is not an injection there). */
const RAW: readonly [string, string][] = [
  ['CR', '\r'],
  ['LF', '\n'],
  ['NUL', '\0'],
];
const XTEXT: readonly [string, string][] = [
  ['+0D+0A', '+0D+0A'],
  ['+0D', '+0D'],
  ['+0A', '+0A'],
  ['+00', '+00'],
];
/** Values inside JSON, a base64 blob or a decoded parameter, where CRLF is an injection too. */
const DECODED: readonly [string, string][] = [...RAW, ['CRLF', '\r\n']];
const PASSWORD = 's3cret pass';

let lab: DeliveryLab;
let nextClient = 20;

before(async () => {
  const hash = await hashPassword(PASSWORD);
  lab = await startDeliveryLab({
    mutate: (c) => ({ ...c, smtp: { ...c.smtp, users: [{ username: 'app', passwordHash: hash }] } }),
  });
});
after(async () => {
  await lab.close();
});

/** A session from its own loopback address (AUTH failures and limits are counted per client). */
async function session(): Promise<RawSession> {
  const s = await rawSession(lab.server.port, { localAddress: `127.0.1.${nextClient++}` });
  await s.expect(220);
  return s;
}

/** Reads one reply and checks it refuses (5xx). */
async function refused(s: RawSession, what: string): Promise<void> {
  const reply = await s.reply();
  assert.ok(reply, `${what}: connection closed without a reply`);
  assert.ok(reply.code >= 500 && reply.code < 600, `${what} got ${reply.lines.join(' | ')}`);
}

/** Drains replies to a raw-LF poison's second half (the marker line) so the next command lines up. */
async function skipTail(s: RawSession, name: string): Promise<void> {
  if (name === 'LF') await refused(s, 'the marker line after a bare LF');
}

describe('SMTP commands', () => {
  for (const verb of ['EHLO', 'HELO']) {
    for (const [name, poison] of RAW) {
      it(`${verb} with ${name} is refused and no greeting is accepted`, async () => {
        const s = await session();
        s.send(`${verb} host.example${poison}${MARK}: yes\r\n`);
        await refused(s, `${verb} ${name}`);
        await skipTail(s, name);
        await s.command('MAIL FROM:<a@d1.test>', 503);
        s.close();
      });
    }
  }

  for (const [name, poison] of RAW) {
    for (const [where, line] of [
      ['MAIL address', `MAIL FROM:<a${poison}${MARK}@d1.test>`],
      ['MAIL ENVID', `MAIL FROM:<a@d1.test> ENVID=id${poison}${MARK}`],
      ['RCPT address', `RCPT TO:<b${poison}${MARK}@d1.test>`],
      ['RCPT ORCPT', `RCPT TO:<b@d1.test> ORCPT=rfc822;b${poison}${MARK}@d1.test`],
      ['RCPT NOTIFY', `RCPT TO:<b@d1.test> NOTIFY=FAILURE${poison}${MARK}`],
    ] as const) {
      it(`${where} with raw ${name} is refused`, async () => {
        const s = await session();
        await s.command('EHLO client.example', 250);
        if (where.startsWith('RCPT')) await s.command('MAIL FROM:<a@d1.test>', 250);
        s.send(`${line}\r\n`);
        await refused(s, `${where} ${name}`);
        await skipTail(s, name);
        // No sender accepted (503), or a sender but no recipient (554).
        await s.command('DATA', where.startsWith('RCPT') ? 554 : 503);
        s.close();
      });
    }
  }

  for (const [name, poison] of XTEXT) {
    it(`ENVID with xtext ${name} is refused`, async () => {
      const s = await session();
      await s.command('EHLO client.example', 250);
      s.send(`MAIL FROM:<a@d1.test> ENVID=id${poison}${MARK}\r\n`);
      await refused(s, `ENVID ${name}`);
      s.close();
    });
    it(`ORCPT with xtext ${name} is refused`, async () => {
      const s = await session();
      await s.command('EHLO client.example', 250);
      await s.command('MAIL FROM:<a@d1.test>', 250);
      s.send(`RCPT TO:<b@d1.test> ORCPT=rfc822;b${poison}${MARK}@d1.test\r\n`);
      await refused(s, `ORCPT ${name}`);
      await s.command('DATA', 554);
      s.close();
    });
  }
});

describe('AUTH identities', () => {
  const b64 = (text: string): string => Buffer.from(text, 'utf8').toString('base64');
  for (const [name, poison] of DECODED) {
    it(`AUTH PLAIN with ${name} in the authorization identity is refused (right password)`, async () => {
      const s = await session();
      await s.command('EHLO client.example', 250);
      s.send(`AUTH PLAIN ${b64(`app${poison}${MARK}\0app\0${PASSWORD}`)}\r\n`);
      await refused(s, `AUTH PLAIN authzid ${name}`);
      s.close();
    });
    it(`AUTH PLAIN with ${name} in the user name is refused`, async () => {
      const s = await session();
      await s.command('EHLO client.example', 250);
      s.send(`AUTH PLAIN ${b64(`\0app${poison}${MARK}\0${PASSWORD}`)}\r\n`);
      await refused(s, `AUTH PLAIN user ${name}`);
      s.close();
    });
    it(`AUTH LOGIN with ${name} in the user name is refused`, async () => {
      const s = await session();
      await s.command('EHLO client.example', 250);
      await s.command('AUTH LOGIN', 334);
      await s.command(b64(`app${poison}${MARK}`), 334);
      s.send(`${b64(PASSWORD)}\r\n`);
      await refused(s, `AUTH LOGIN user ${name}`);
      s.close();
    });
  }
});

const api = (): string => `http://${lab.server.running.http!.address}:${lab.server.running.http!.port}`;

function message(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    from: 'App <app@d2.test>',
    to: ['clean-http@d1.test'],
    subject: 'Clean',
    text: 'Hello\n',
    ...extra,
  };
}

async function post(body: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  const reply = await fetch(`${api()}/api/v1/messages`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(10_000),
  });
  return { status: reply.status, body: (await reply.json()) as Record<string, unknown> };
}

describe('HTTP API', () => {
  for (const [name, poison] of DECODED) {
    const bad = `x${poison}${MARK}: yes`;
    for (const [field, body] of [
      ['subject', message({ subject: bad })],
      ['from', message({ from: `App ${bad} <app@d2.test>` })],
      ['from address', message({ from: `app${poison}${MARK}@d2.test` })],
      ['to', message({ to: [`Bob ${bad} <bob@d1.test>`] })],
      ['headers value', message({ headers: { 'X-Tag': bad } })],
      ['headers name', message({ headers: { [`X-Tag${poison}${MARK}`]: 'v' } })],
      [
        'attachment filename',
        message({
          attachments: [{ filename: `a${poison}${MARK}.txt`, contentType: 'text/plain', content: 'aGk=' }],
        }),
      ],
      ['dsn.envid', message({ dsn: { envid: `id${poison}${MARK}` } })],
    ] as const) {
      it(`${field} with ${name} is refused with 400`, async () => {
        const reply = await post(body);
        assert.equal(reply.status, 400, JSON.stringify(reply.body));
      });
    }
  }

  for (const [name, poison] of RAW) {
    it(`an HTTP request header with a raw ${name} is refused`, async () => {
      const { address, port } = lab.server.running.http!;
      const socket = connect(port, address);
      const reader = new LineReader(socket);
      const json = JSON.stringify(message());
      socket.write(
        `POST /api/v1/messages HTTP/1.1\r\nHost: ${address}\r\nContent-Type: application/json\r\n` +
          `X-Note: a${poison}${MARK}: yes\r\nContent-Length: ${Buffer.byteLength(json)}\r\nConnection: close\r\n\r\n${json}`,
      );
      const status = await reader.line(10_000);
      socket.destroy();
      assert.match(status ?? 'closed', /^(HTTP\/1\.1 400 |closed$)/, `got ${status}`);
    });
  }
});

describe('nothing poisoned reached a surface', () => {
  it('clean SMTP and HTTP messages are delivered, and no marker or poison byte is stored, logged or sent on', async () => {
    const s = await session();
    await s.command('EHLO clean-client.example', 250);
    await s.command('MAIL FROM:<app@d2.test> ENVID=clean+2Bid', 250);
    await s.command('RCPT TO:<clean-smtp@d1.test> NOTIFY=FAILURE ORCPT=rfc822;clean-smtp@d1.test', 250);
    await s.command('DATA', 354);
    s.send('Subject: clean\r\n\r\nclean\r\n.\r\n');
    await s.expect(250);
    await s.command('QUIT', 221);
    s.close();
    const http = await post(message());
    assert.equal(http.status, 202, JSON.stringify(http.body));
    for (const rcpt of ['clean-smtp@d1.test', 'clean-http@d1.test'])
      await lab.waitForEvent((e) => e.type === 'delivered' && e.recipient === rcpt, 15_000);

    const spool = lab.server.running.spool;
    const stored = await spool.list({ limit: 1000 });
    assert.ok(stored.length >= 2, 'the clean messages are stored');
    const surfaces: [string, string][] = [];
    // Bodies of delivered messages are gone from the spool; what was sent on is at the sink.
    const heads: string[] = [];
    for (const m of stored) {
      surfaces.push([`stored metadata of ${m.id}`, JSON.stringify(m)]);
      if (m.hasBody) heads.push(Buffer.from(await spool.readBody(m.id)).toString('latin1'));
    }
    for (const sunk of lab.sinks.ok.messages) heads.push(sunk.raw.toString('latin1'));
    for (const body of heads) {
      const head = body.slice(0, body.indexOf('\r\n\r\n') + 2);
      surfaces.push(['a stored or delivered header section', head]);
      assert.doesNotMatch(head.replaceAll('\r\n', ''), /[\r\n\0]/, `bare CR/LF or NUL in headers: ${head}`);
      assert.match(head, /^Received: /m, `no Received header: ${head}`);
    }
    assert.match(
      heads.join('\n'),
      /^Received: from clean-client\.example /m,
      'the clean EHLO name is in Received',
    );
    surfaces.push(['events', JSON.stringify(lab.events)]);
    const eventLog = readFileSync(join(lab.server.dataDir, 'events.log'), 'utf8');
    surfaces.push(['event log', eventLog]);
    for (const line of eventLog.split('\n').filter((l) => l !== '')) JSON.parse(line);
    const transcript = lab.sinks.ok.transcript();
    assert.ok(
      transcript.some((l) => /clean-smtp@d1\.test/.test(l)),
      'the sink saw the clean message',
    );
    surfaces.push(['commands sent to the sink', transcript.join('\n')]);
    for (const sunk of lab.sinks.ok.messages) surfaces.push(['message at the sink', JSON.stringify(sunk)]);
    for (const [what, text] of surfaces) {
      assert.ok(!text.includes(MARK), `the marker reached ${what}`);
      assert.ok(!text.includes('\0'), `a NUL reached ${what}`);
    }
    for (const line of transcript)
      assert.doesNotMatch(line, /[\r\n\0]/, `poison in a command sent on: ${line}`);
  });
});
