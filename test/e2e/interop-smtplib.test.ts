/**
 * Interoperability with Python's smtplib (the standard library client): EHLO
 * keywords before and after STARTTLS, AUTH, SMTPUTF8 with BODY=8BITMIME and NOTIFY
 * on UTF-8 addresses, SIZE, send_message() with non-ASCII headers (RFC 2047) and
 * with international addresses, the message size limit, and refusals.
 *
 * Each test runs a short /usr/bin/python3 program (test/harness/interop/python.ts)
 * and checks what mxpress stored. smtplib has no BDAT, so CHUNKING is tested with
 * raw sockets (interop-chunking.test.ts). Skips when /usr/bin/python3 is missing.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { has, PYTHON } from '../harness/interop/peers.ts';
import { runPython } from '../harness/interop/python.ts';
import {
  assertSameBytes,
  type InteropServer,
  startInteropServer,
  storedMessage,
  UNTRUSTED_SOURCE,
  USER,
} from '../harness/interop/server.ts';

const skip = !has(PYTHON) && `${PYTHON} not installed`;
const LIMIT = 64 * 1024;

/** Decodes RFC 2047 encoded-words (B and Q, UTF-8) in an unfolded header value. */
function decodeWords(value: string): string {
  return value
    .replace(/\?=\s+=\?/g, '?==?')
    .replace(/=\?utf-8\?([bq])\?([^?]*)\?=/gi, (_all, kind: string, text: string) =>
      kind.toLowerCase() === 'b'
        ? Buffer.from(text, 'base64').toString('utf8')
        : Buffer.from(
            text
              .replace(/_/g, ' ')
              .replace(/=([0-9A-F]{2})/gi, (_m, hex: string) => String.fromCharCode(parseInt(hex, 16))),
            'latin1',
          ).toString('utf8'),
    );
}

describe('Python smtplib', { skip }, () => {
  let mx: InteropServer;
  before(async () => {
    mx = await startInteropServer({ limits: { maxMessageSize: LIMIT } });
  });
  after(async () => {
    await mx.stop();
  });

  it('sees every extension in EHLO; after STARTTLS, STARTTLS is gone and AUTH stays', async () => {
    const r = await runPython(
      mx.port,
      `
      s = connect()
      s.ehlo()
      plain = dict(s.esmtp_features)
      s.starttls(context=tls_context())
      s.ehlo()
      report(plain=plain, secure=dict(s.esmtp_features), tls=s.sock.version())
      s.quit()
      `,
    );
    const common = {
      pipelining: '',
      size: String(LIMIT),
      '8bitmime': '',
      smtputf8: '',
      enhancedstatuscodes: '',
      chunking: '',
      dsn: '',
      auth: ' PLAIN LOGIN',
    };
    assert.deepEqual(r.plain, { ...common, starttls: '' });
    assert.deepEqual(r.secure, common);
    assert.match(String(r.tls), /^TLSv1\.[23]$/);
  });

  it('STARTTLS + AUTH, then SMTPUTF8, BODY=8BITMIME, NOTIFY and SIZE on UTF-8 addresses', async () => {
    const before = mx.received.count;
    const r = await runPython(
      mx.port,
      String.raw`
      s = connect('${UNTRUSTED_SOURCE}')
      s.starttls(context=tls_context())
      s.ehlo()
      s.login('app', 's3cret pass')
      msg = ('From: Jörg <jörg@exämple.net>\r\nTo: rcpt@exämple.org\r\nSubject: ünïcödé\r\n'
             'Date: Mon, 1 Jan 2024 00:00:00 +0000\r\nMessage-ID: <py-utf8@client.example>\r\n\r\n'
             '.a dotted line, 8-bit: héllo ✓\r\nend\r\n').encode('utf-8')
      refused = s.sendmail('jörg@exämple.net', ['rcpt@exämple.org', 'plain@example.org'], msg,
                           mail_options=['SMTPUTF8', 'BODY=8BITMIME'],
                           rcpt_options=['NOTIFY=SUCCESS,FAILURE'])
      s.quit()
      report(refused=refused, size=len(msg))
      `,
    );
    assert.deepEqual(r.refused, {});
    const [event] = await mx.received.waitForCount(before + 1).then((all) => all.slice(before));
    assert.ok(event);
    assert.equal(event.from, 'jörg@exämple.net');
    const copy = await storedMessage(mx, event.messageId);
    const expected =
      'From: Jörg <jörg@exämple.net>\r\nTo: rcpt@exämple.org\r\nSubject: ünïcödé\r\n' +
      'Date: Mon, 1 Jan 2024 00:00:00 +0000\r\nMessage-ID: <py-utf8@client.example>\r\n\r\n' +
      '.a dotted line, 8-bit: héllo ✓\r\nend\r\n';
    assertSameBytes(copy.rest, expected, 'stored body after Received');
    const { envelope, origin, recipients } = copy.message;
    assert.equal(envelope.smtputf8, true);
    assert.equal(envelope.bodyType, '8BITMIME');
    assert.equal(envelope.declaredSize, r.size);
    assert.equal(envelope.declaredSize, Buffer.byteLength(expected));
    assert.deepEqual(
      recipients.map((x) => [x.address, x.notify]),
      [
        ['rcpt@exämple.org', ['SUCCESS', 'FAILURE']],
        ['plain@example.org', ['SUCCESS', 'FAILURE']],
      ],
    );
    assert.equal(origin.authUser, USER);
    assert.equal(origin.protocol, 'UTF8SMTPSA');
    assert.match(copy.trace, / with UTF8SMTPSA id /);
  });

  it('send_message() with non-ASCII headers: RFC 2047 words and an 8-bit body arrive intact', async () => {
    const before = mx.received.count;
    const r = await runPython(
      mx.port,
      String.raw`
      import base64, io
      from email.generator import BytesGenerator
      from email.headerregistry import Address
      from email.message import EmailMessage
      m = EmailMessage()
      m['From'] = Address('Jörg Müller', 'a', 'example.net')
      m['To'] = 'b@example.org'
      m['Subject'] = 'Grüße aus Köln – ✓'
      m['Date'] = 'Mon, 1 Jan 2024 00:00:00 +0000'
      m['Message-ID'] = '<py-headers@client.example>'
      m.set_content('ünïcödé body\n.leading dot\n')
      s = connect()
      s.send_message(m)
      s.quit()
      # The bytes send_message() hands to sendmail(): smtplib's own flattening.
      buf = io.BytesIO()
      BytesGenerator(buf).flatten(m, linesep='\r\n')
      report(sent=base64.b64encode(buf.getvalue()).decode())
      `,
    );
    const [event] = await mx.received.waitForCount(before + 1).then((all) => all.slice(before));
    assert.ok(event);
    const copy = await storedMessage(mx, event.messageId);
    assertSameBytes(copy.rest, Buffer.from(String(r.sent), 'base64'), 'stored body after Received');
    const text = copy.rest.toString('utf8');
    const split = text.indexOf('\r\n\r\n');
    const head = copy.rest.subarray(0, split);
    assert.ok(
      head.every((b) => b < 0x80),
      'header section is not ASCII',
    );
    const unfolded = text.slice(0, split).replace(/\r\n[ \t]/g, ' ');
    const subject = /^Subject: (.*)$/m.exec(unfolded)?.[1] ?? '';
    const from = /^From: (.*)$/m.exec(unfolded)?.[1] ?? '';
    assert.equal(decodeWords(subject), 'Grüße aus Köln – ✓');
    assert.equal(decodeWords(from), 'Jörg Müller <a@example.net>');
    assert.ok(text.slice(split).includes('\r\n\r\nünïcödé body\r\n.leading dot\r\n'), text);
    assert.equal(copy.message.envelope.smtputf8, false);
    assert.equal(copy.message.envelope.mailFrom, 'a@example.net');
  });

  it('send_message() with international addresses switches to SMTPUTF8 on its own', async () => {
    const before = mx.received.count;
    await runPython(
      mx.port,
      String.raw`
      from email.message import EmailMessage
      m = EmailMessage()
      m['From'] = 'jörg@exämple.net'
      m['To'] = 'empfänger@exämple.org'
      m['Subject'] = 'Grüße'
      m['Date'] = 'Mon, 1 Jan 2024 00:00:00 +0000'
      m['Message-ID'] = '<py-intl@client.example>'
      m.set_content('hallo\n')
      s = connect()
      s.send_message(m)
      s.quit()
      report(ok=True)
      `,
    );
    const [event] = await mx.received.waitForCount(before + 1).then((all) => all.slice(before));
    assert.ok(event);
    const copy = await storedMessage(mx, event.messageId);
    assert.equal(copy.message.envelope.smtputf8, true);
    assert.equal(copy.message.envelope.bodyType, '8BITMIME');
    assert.deepEqual(copy.message.envelope.recipients, [{ address: 'empfänger@exämple.org' }]);
    const text = copy.rest.toString('utf8');
    assert.match(text, /^From: jörg@exämple\.net\r\nTo: empfänger@exämple\.org\r\nSubject: Grüße\r\n/);
    assert.match(copy.trace, / with UTF8SMTP id /);
  });

  it('hits the size limit: declared SIZE -> SMTPSenderRefused 552, streamed -> SMTPDataError 552; the session goes on', async () => {
    const before = mx.received.count;
    const r = await runPython(
      mx.port,
      String.raw`
      s = connect()
      s.ehlo()
      big = b'Subject: big\r\n\r\n' + (b'x' * 70 + b'\r\n') * 1200
      out = {'bytes': len(big)}
      try:
          s.sendmail('a@example.net', ['b@example.org'], big)
      except smtplib.SMTPException as e:
          out['declared'] = smtp_error(e)
      del s.esmtp_features['size']  # now behave like a client that ignores SIZE
      try:
          s.sendmail('a@example.net', ['b@example.org'], big)
      except smtplib.SMTPException as e:
          out['streamed'] = smtp_error(e)
      out['noop'] = s.noop()[0]
      out['small'] = s.sendmail('a@example.net', ['b@example.org'], b'Subject: small\r\n\r\nok\r\n')
      s.quit()
      report(**out)
      `,
    );
    assert.ok(Number(r.bytes) > LIMIT);
    assert.deepEqual(r.declared, {
      type: 'SMTPSenderRefused',
      code: 552,
      text: `5.3.4 Message size exceeds fixed maximum message size (${LIMIT})`,
    });
    const streamed = r.streamed as { type: string; code: number; text: string };
    assert.equal(streamed.type, 'SMTPDataError');
    assert.equal(streamed.code, 552);
    assert.match(streamed.text, /^5\.3\.4 /);
    assert.equal(r.noop, 250);
    assert.deepEqual(r.small, {});
    await mx.received.waitForCount(before + 1);
    assert.equal(mx.received.count, before + 1, 'an oversize message was stored');
    const copy = await storedMessage(mx, mx.received.events[before]!.messageId);
    assert.ok(copy.rest.toString('latin1').endsWith('Subject: small\r\n\r\nok\r\n'));
  });

  it('refuses: a wrong password (535), relay without AUTH (554), UTF-8 addresses without SMTPUTF8 (553 5.6.7)', async () => {
    const before = mx.received.count;
    const r = await runPython(
      mx.port,
      String.raw`
      out = {}
      s = connect('${UNTRUSTED_SOURCE}')
      try:
          s.login('app', 'wrong password')
      except smtplib.SMTPException as e:
          out['login'] = smtp_error(e)
      try:
          s.sendmail('a@example.net', ['b@example.org'], b'Subject: x\r\n\r\nx\r\n')
      except smtplib.SMTPException as e:
          out['relay'] = smtp_error(e)
      s.command_encoding = 'utf-8'  # send UTF-8 but do not ask for SMTPUTF8
      code, text = s.mail('jörg@exämple.net')
      out['mail'] = [code, text.decode()]
      s.rset()
      s.mail('a@example.net')
      s.command_encoding = 'utf-8'  # rset() put it back to ascii
      code, text = s.rcpt('empfänger@exämple.org')
      out['rcpt'] = [code, text.decode()]
      s.quit()
      report(**out)
      `,
    );
    assert.deepEqual(r.login, {
      type: 'SMTPAuthenticationError',
      code: 535,
      text: '5.7.8 Error: authentication credentials invalid',
    });
    const relay = r.relay as { type: string; recipients: Record<string, [number, string]> };
    assert.equal(relay.type, 'SMTPRecipientsRefused');
    assert.equal(relay.recipients['b@example.org']?.[0], 554);
    assert.match(relay.recipients['b@example.org']?.[1] ?? '', /^5\.7\.1 /);
    const [mailCode, mailText] = r.mail as [number, string];
    const [rcptCode, rcptText] = r.rcpt as [number, string];
    assert.equal(mailCode, 553);
    assert.match(mailText, /^5\.6\.7 /);
    assert.equal(rcptCode, 553);
    assert.match(rcptText, /^5\.6\.7 /);
    assert.equal(mx.received.count, before);
  });
});
