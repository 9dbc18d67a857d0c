/**
 * Tests for `mxpress sendmail`: the message rules (dot handling, CRLF, -t with
 * To/Cc/Bcc, Bcc removal, From/Date added), flag parsing, and end-to-end runs
 * through main() against a real mxpress and delivery lab on loopback: -t
 * delivers and the sink gets no Bcc, a refused recipient exits 67, no recipient
 * exits 64, a closed port exits 69. One run goes through the real binary.
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { type DeliveryLab, startDeliveryLab } from '../../../../test/harness/delivery-lab.ts';
import { main } from '../main.ts';
import { fakeIo, runCli } from '../test-helpers.ts';
import { parseSendmailArgs, parseSmtpAddress } from './sendmail/args.ts';
import { addressesIn, prepareMessage, toCrlf } from './sendmail/message.ts';

const now = new Date(Date.UTC(2026, 0, 2, 3, 4, 5));

describe('sendmail message rules', () => {
  it('converts LF and lone CR to CRLF and stops at a lone dot unless -i', () => {
    assert.equal(toCrlf('a\nb\r\n.\nc\n', false), 'a\r\nb\r\n');
    assert.equal(toCrlf('a\nb\r\n.\nc', true), 'a\r\nb\r\n.\r\nc\r\n');
    assert.equal(toCrlf('x\ry', true), 'x\r\ny\r\n');
    assert.equal(toCrlf('', true), '');
  });

  it('reads address lists with names, quotes, comments and groups', () => {
    assert.deepEqual(addressesIn(' "Doe, J" <j@d.test>, k@d.test (Kay),\r\n l@e.test'), [
      'j@d.test',
      'k@d.test',
      'l@e.test',
    ]);
    assert.deepEqual(addressesIn(' team: a@x.test, B <b@x.test>;, c@y.test'), [
      'a@x.test',
      'b@x.test',
      'c@y.test',
    ]);
    assert.deepEqual(addressesIn(' undisclosed-recipients:;'), []);
  });

  it('takes To/Cc/Bcc for -t, drops Bcc (folded too), adds From and Date', () => {
    const input = 'To: a@x.test\r\nCc: b@x.test\r\nBcc: c@x.test,\r\n d@x.test\r\nSubject: s\r\n\r\nbody\r\n';
    const out = prepareMessage(input, { takeRecipients: true, sender: 'me@h.test', fullName: 'Me Too', now });
    assert.deepEqual(out.headerRecipients, ['a@x.test', 'b@x.test', 'c@x.test', 'd@x.test']);
    assert.doesNotMatch(out.message, /Bcc|d@x\.test/);
    assert.match(
      out.message,
      /^To: a@x\.test\r\nCc: b@x\.test\r\nSubject: s\r\nFrom: Me Too <me@h\.test>\r\n/,
    );
    assert.match(out.message, /\r\nDate: Fri, 02 Jan 2026 03:04:05 \+0000\r\n\r\nbody\r\n$/);
  });

  it('keeps an existing From and Date and takes no header recipients without -t', () => {
    const input = 'From: x@y.test\r\nDate: Mon, 1 Jan 2024 00:00:00 +0000\r\nTo: a@x.test\r\n\r\nhi\r\n';
    const out = prepareMessage(input, { takeRecipients: false, sender: 'me@h.test', now });
    assert.equal(out.message, input);
    assert.deepEqual(out.headerRecipients, []);
  });

  it('treats input without headers as body', () => {
    const out = prepareMessage('just text\r\n', { takeRecipients: true, sender: 'me@h.test', now });
    assert.match(out.message, /^From: <me@h\.test>\r\nDate: .*\r\n\r\njust text\r\n$/);
  });
});

describe('sendmail flags', () => {
  it('parses the common forms and ignores delivery-mode flags', () => {
    const a = parseSendmailArgs([
      '-odi',
      '-oem',
      '-oi',
      '-t',
      '-fbob@x.test',
      '-F',
      'Bob',
      'u@d.test',
      '--smtp',
      '[::1]:25',
    ]);
    assert.deepEqual(a, {
      takeRecipients: true,
      ignoreDots: true,
      verbose: false,
      recipients: ['u@d.test'],
      sender: 'bob@x.test',
      fullName: 'Bob',
      smtp: '[::1]:25',
    });
    assert.equal(parseSendmailArgs(['-f', '<>']).sender, '');
    // How Debian's cron runs it.
    const cron = parseSendmailArgs(['-FCronDaemon', '-i', '-B8BITMIME', '-oem', 'ops@x.test']);
    assert.deepEqual([cron.fullName, cron.ignoreDots, cron.recipients], ['CronDaemon', true, ['ops@x.test']]);
    assert.throws(() => parseSendmailArgs(['-bs']), /not supported/);
    assert.throws(() => parseSendmailArgs(['-Z']), /unknown flag -Z/);
    assert.throws(() => parseSendmailArgs(['-f']), /-f needs a value/);
    assert.deepEqual(parseSmtpAddress('[::1]:2525'), { host: '::1', port: 2525 });
    assert.deepEqual(parseSmtpAddress('localhost:25'), { host: '127.0.0.1', port: 25 });
    assert.throws(() => parseSmtpAddress('127.0.0.1'), /ADDR:PORT/);
  });
});

describe('sendmail against a running mxpress', () => {
  let lab: DeliveryLab;
  let smtp: string;

  before(async () => {
    lab = await startDeliveryLab();
    smtp = `127.0.0.1:${lab.server.port}`;
  });
  after(async () => {
    await lab.close();
  });

  it('-t delivers to To and Bcc, and the delivered copy has no Bcc', async () => {
    const io = fakeIo({
      cwd: process.cwd(),
      env: { MXPRESS_SMTP: smtp },
      stdin: 'To: u7@d1.test\nBcc: hidden7@d2.test\nSubject: x\n\nhi\n.\nnot this\n',
    });
    assert.equal(await main(['sendmail', '-t', '-f', 'app@sender.test'], io), 0, io.err());
    for (const to of ['u7@d1.test', 'hidden7@d2.test']) {
      await lab.waitForEvent((e) => e.type === 'delivered' && e.recipient === to, 15_000);
    }
    const copy = lab.sinks.ok.messages.find((m) => m.rcptTo.includes('u7@d1.test'));
    assert.ok(copy);
    assert.equal(copy.mailFrom, 'app@sender.test');
    const text = copy.body.toString('latin1');
    assert.match(text, /Subject: x\r\n/);
    assert.match(text, /\r\n\r\nhi\r\n/);
    assert.doesNotMatch(text, /Bcc|hidden7|not this/);
  });

  it('exits 67 when the server refuses the only recipient, 64 without recipients', async () => {
    const refused = fakeIo({ cwd: process.cwd(), stdin: 'Subject: y\n\nhi\n' });
    // An address without a domain is refused at RCPT (5xx).
    assert.equal(await main(['sendmail', '--smtp', smtp, 'no-domain'], refused), 67);
    assert.match(refused.err(), /<no-domain> refused: 5\d\d/);
    const none = fakeIo({ cwd: process.cwd(), stdin: 'Subject: y\n\nhi\n' });
    assert.equal(await main(['sendmail', '--smtp', smtp, '-t'], none), 64);
    assert.match(none.err(), /no recipients/);
  });

  it('exits 69 naming the address when nothing listens', async () => {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as { port: number };
    await new Promise<void>((resolve) => server.close(() => resolve()));
    const io = fakeIo({ cwd: process.cwd(), stdin: 'Subject: z\n\nhi\n' });
    assert.equal(await main(['sendmail', '--smtp', `127.0.0.1:${port}`, 'a@d1.test'], io), 69);
    assert.match(io.err(), new RegExp(`cannot reach mxpress at 127\\.0\\.0\\.1:${port}`));
  });

  it('works through the real binary (registered, reads stdin, exit 0)', async () => {
    const result = await runCli(['sendmail', '-oi', 'bin8@d3.test'], {
      cwd: process.cwd(),
      env: { MXPRESS_SMTP: smtp },
      stdin: 'Subject: via bin\n\n.\nstill body\n',
      timeoutMs: 30_000,
    });
    assert.equal(result.code, 0, result.stderr);
    await lab.waitForEvent((e) => e.type === 'delivered' && e.recipient === 'bin8@d3.test', 15_000);
    const copy = lab.sinks.ok.messages.find((m) => m.rcptTo.includes('bin8@d3.test'));
    assert.match(copy?.body.toString('latin1') ?? '', /\r\n\.\.\r\nstill body\r\n|\r\n\.\r\nstill body\r\n/);
  });
});
