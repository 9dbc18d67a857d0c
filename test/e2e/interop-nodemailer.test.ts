/**
 * Interoperability with nodemailer (an npm devDependency): STARTTLS with AUTH PLAIN
 * and LOGIN, a raw message stored byte for byte, DSN options stored as
 * ENVID/RET/NOTIFY/ORCPT, SMTPUTF8 addresses, a multipart message with a binary
 * base64 attachment, several recipients (Bcc kept out of the header), and a pool
 * that sends 20 messages over one connection.
 *
 * nodemailer pipelines MAIL/RCPT/DATA whenever PIPELINING is offered, so every test
 * here also exercises RFC 2920 with a client we did not write.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import nodemailer from 'nodemailer';
import {
  assertSameBytes,
  type InteropServer,
  PASSWORD,
  queueId,
  startInteropServer,
  storedMessage,
  UNTRUSTED_SOURCE,
  USER,
} from '../harness/interop/server.ts';

const TIMEOUTS = { connectionTimeout: 10_000, greetingTimeout: 10_000, socketTimeout: 10_000 };

/** Collects nodemailer's debug log of the dialogue as `C: ...` / `S: ...` lines. */
function transcriptLogger(): { logger: Record<string, unknown>; lines: string[] } {
  const lines: string[] = [];
  const record = (...args: unknown[]): void => {
    const meta = args[0] as { tnx?: string } | undefined;
    if ((meta?.tnx === 'client' || meta?.tnx === 'server') && typeof args[1] === 'string') {
      lines.push(...args[1].split('\n').map((line) => `${meta.tnx === 'client' ? 'C' : 'S'}: ${line}`));
    }
  };
  const logger = { trace: record, debug: record, info: record, warn: record, error: record, fatal: record };
  return { logger, lines };
}

describe('nodemailer', () => {
  let mx: InteropServer;
  before(async () => {
    mx = await startInteropServer();
  });
  after(async () => {
    await mx.stop();
  });

  let lines: string[] = [];

  function transport(extra: { authMethod?: string; localAddress?: string; auth?: boolean } = {}) {
    const log = transcriptLogger();
    lines = log.lines;
    return nodemailer.createTransport({
      logger: log.logger,
      debug: true,
      host: '127.0.0.1',
      port: mx.port,
      secure: false,
      requireTLS: true,
      name: 'client.example',
      tls: { rejectUnauthorized: false },
      ...TIMEOUTS,
      ...(extra.auth ? { auth: { user: USER, pass: PASSWORD } } : {}),
      ...(extra.authMethod ? { authMethod: extra.authMethod } : {}),
      ...(extra.localAddress ? { localAddress: extra.localAddress } : {}),
    });
  }

  for (const method of ['PLAIN', 'LOGIN']) {
    it(`STARTTLS + AUTH ${method} from an untrusted address; a raw message is stored byte for byte`, async () => {
      const raw =
        'Date: Mon, 1 Jan 2024 00:00:00 +0000\r\nMessage-ID: <nm-raw@client.example>\r\n' +
        'From: a@example.net\r\nTo: b@example.org\r\nSubject: raw\r\n\r\n.leading dot\r\nbody ✓\r\n';
      const info = await transport({
        auth: true,
        authMethod: method,
        localAddress: UNTRUSTED_SOURCE,
      }).sendMail({
        envelope: { from: 'a@example.net', to: ['b@example.org'] },
        raw,
      });
      assert.ok(lines.includes('C: STARTTLS'), lines.join('\n'));
      assert.ok(
        lines.some((l) => l.startsWith(`C: AUTH ${method}`)),
        lines.join('\n'),
      );
      assert.ok(lines.includes('S: 235 2.7.0 Authentication successful'), lines.join('\n'));
      const copy = await storedMessage(mx, queueId(info.response));
      assertSameBytes(copy.rest, raw, 'stored body after Received');
      const { origin } = copy.message;
      assert.equal(origin.authUser, USER);
      assert.equal(origin.clientIp, UNTRUSTED_SOURCE);
      assert.equal(origin.protocol, 'ESMTPSA');
      assert.match(origin.tls?.protocol ?? '', /^TLSv1\.[23]$/);
    });
  }

  it('is refused relay from an untrusted address without AUTH (control)', async () => {
    const before = mx.received.count;
    await assert.rejects(
      transport({ localAddress: UNTRUSTED_SOURCE }).sendMail({
        from: 'a@example.net',
        to: 'b@example.org',
        text: 'x',
      }),
      (error: { responseCode?: number; response?: string }) =>
        error.responseCode === 554 && /5\.7\.1/.test(error.response ?? ''),
    );
    assert.equal(mx.received.count, before);
  });

  it('stores the DSN options as ENVID, RET, NOTIFY and ORCPT', async () => {
    const info = await transport().sendMail({
      from: 'a@example.net',
      to: 'b@example.org',
      subject: 'dsn',
      text: 'dsn test',
      dsn: { id: 'env+42=x', return: 'headers', notify: ['failure', 'delay'], recipient: 'orig@example.org' },
    });
    assert.ok(lines.includes('C: MAIL FROM:<a@example.net> RET=HDRS ENVID=env+2B42+3Dx'), lines.join('\n'));
    assert.ok(
      lines.includes('C: RCPT TO:<b@example.org> NOTIFY=FAILURE,DELAY ORCPT=rfc822;orig@example.org'),
      lines.join('\n'),
    );
    const copy = await storedMessage(mx, queueId(info.response));
    const { envelope, recipients } = copy.message;
    assert.equal(envelope.envid, 'env+42=x');
    assert.equal(envelope.ret, 'HDRS');
    assert.equal(recipients.length, 1);
    assert.deepEqual(recipients[0]?.notify, ['FAILURE', 'DELAY']);
    assert.deepEqual(recipients[0]?.orcpt, { addrType: 'rfc822', address: 'orig@example.org' });
  });

  it('uses SMTPUTF8 for UTF-8 addresses and the stored envelope keeps them', async () => {
    const info = await transport().sendMail({
      from: 'jörg@exämple.net',
      to: 'empfänger@exämple.org',
      subject: 'Grüße',
      text: 'hallo ✓',
    });
    assert.ok(lines.includes('C: MAIL FROM:<jörg@exämple.net> SMTPUTF8'), lines.join('\n'));
    const copy = await storedMessage(mx, queueId(info.response));
    const { envelope } = copy.message;
    assert.equal(envelope.smtputf8, true);
    assert.equal(envelope.mailFrom, info.envelope.from);
    assert.deepEqual(
      envelope.recipients.map((r) => r.address),
      info.envelope.to,
    );
    assert.equal(envelope.mailFrom, 'jörg@exämple.net');
    assert.deepEqual(envelope.recipients, [{ address: 'empfänger@exämple.org' }]);
    assert.equal(copy.message.origin.protocol, 'UTF8SMTPS');
  });

  it('sends a multipart message with a binary attachment; the base64 part decodes to the same bytes', async () => {
    const attachment = randomBytes(3000);
    const info = await transport().sendMail({
      from: 'a@example.net',
      to: 'b@example.org',
      subject: 'attachment',
      text: 'see attached ✓',
      attachments: [{ filename: 'data.bin', content: attachment, contentType: 'application/octet-stream' }],
    });
    const copy = await storedMessage(mx, queueId(info.response));
    const text = copy.rest.toString('utf8');
    const boundary = /^Content-Type: multipart\/mixed;\s*boundary="?([^"\r\n]+)"?/im.exec(
      text.replace(/\r\n[ \t]+/g, ' '),
    )?.[1];
    assert.ok(boundary, 'no multipart/mixed boundary');
    const parts = text.split(`--${boundary}`).slice(1, -1);
    assert.equal(parts.length, 2, 'expected a text part and an attachment');
    const [textPart, filePart] = parts as [string, string];
    assert.match(textPart, /Content-Type: text\/plain/i);
    assert.match(textPart, /see attached ✓|=E2=9C=93/);
    assert.match(filePart, /Content-Transfer-Encoding: base64/i);
    assert.match(filePart, /filename="?data\.bin"?/);
    const encoded = filePart.slice(filePart.indexOf('\r\n\r\n') + 4).replace(/\s+/g, '');
    assert.ok(Buffer.from(encoded, 'base64').equals(attachment), 'attachment bytes differ');
    assert.ok(
      text.split('\r\n').every((line) => line.length <= 998),
      'a line exceeds 998 octets',
    );
  });

  it('sends one message to several recipients (To, Cc, Bcc); Bcc stays out of the stored header', async () => {
    const info = await transport().sendMail({
      from: 'a@example.net',
      to: ['b@example.org', 'c@example.org'],
      cc: 'd@example.com',
      bcc: 'hidden@example.net',
      subject: 'many',
      text: 'to many',
    });
    assert.deepEqual(info.rejected, []);
    const copy = await storedMessage(mx, queueId(info.response));
    assert.deepEqual(
      copy.message.recipients.map((r) => r.address),
      ['b@example.org', 'c@example.org', 'd@example.com', 'hidden@example.net'],
    );
    const text = copy.rest.toString('utf8');
    assert.doesNotMatch(text, /hidden@example\.net/);
    assert.match(text, /^Cc: d@example\.com\r\n/m);
  });

  it('pool: 20 messages over one connection are all stored', async () => {
    const pool = nodemailer.createTransport({
      pool: true,
      maxConnections: 1,
      maxMessages: 100,
      host: '127.0.0.1',
      port: mx.port,
      secure: false,
      name: 'client.example',
      tls: { rejectUnauthorized: false },
      ...TIMEOUTS,
    });
    try {
      const infos = await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          pool.sendMail({
            from: 'a@example.net',
            to: `r${i}@example.org`,
            subject: `pooled ${i}`,
            text: `n=${i}`,
          }),
        ),
      );
      const ids = infos.map((info) => queueId(info.response));
      assert.equal(new Set(ids).size, 20);
      const messages = await Promise.all(ids.map((id) => storedMessage(mx, id)));
      const ports = new Set(messages.map((m) => m.message.origin.clientPort));
      assert.equal(ports.size, 1, `used ${ports.size} connections`);
      for (const [i, m] of messages.entries()) {
        assert.deepEqual(
          m.message.recipients.map((r) => r.address),
          [`r${i}@example.org`],
        );
        assert.match(m.rest.toString('utf8'), new RegExp(`\\r\\n\\r\\nn=${i}\\r\\n$`));
      }
    } finally {
      pool.close();
    }
  });
});
