// The client against the independent test sink (test/harness/smtp-sink.ts) on loopback:
// what a receiving server actually saw on the wire for each client behaviour.
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { type SinkScript, type SmtpSink, startSmtpSink } from '../../../test/harness/smtp-sink.ts';
import { testTlsCredentials } from '../../../test/harness/tls-fixture.ts';
import { rejection } from './raw-peer.testkit.ts';
import { openSmtpConnection } from './session.ts';
import type { ConnectOptions, OutboundTransaction, SmtpConnection } from './types.ts';

const WITHOUT = (...names: string[]) =>
  ['PIPELINING', '8BITMIME', 'SMTPUTF8', 'ENHANCEDSTATUSCODES', 'SIZE 104857600', 'DSN'].filter(
    (k) => !names.includes(k.split(' ')[0]!),
  );

const sinks: SmtpSink[] = [];
after(async () => {
  for (const sink of sinks) await sink.close();
});

async function sinkWith(script: SinkScript = {}, host = '127.0.0.1'): Promise<SmtpSink> {
  const sink = await startSmtpSink({ host, script });
  sinks.push(sink);
  return sink;
}

async function open(sink: SmtpSink, overrides: Partial<ConnectOptions> = {}): Promise<SmtpConnection> {
  return openSmtpConnection({
    host: sink.host,
    port: sink.port,
    mxHost: 'sink.test',
    localHostname: 'client.test',
    tls: 'none',
    timeouts: {
      connectMs: 2000,
      greetingMs: 3000,
      ehloMs: 3000,
      mailMs: 3000,
      rcptMs: 3000,
      dataTermMs: 3000,
    },
    ...overrides,
  });
}

function tx(overrides: Partial<OutboundTransaction> = {}): OutboundTransaction {
  const body = Buffer.from('From: a@client.test\r\nSubject: hi\r\n\r\nHello.\r\n');
  return {
    mailFrom: 'a@client.test',
    recipients: [{ address: 'b@sink.test' }],
    body,
    size: body.length,
    eightBit: false,
    smtputf8: false,
    ...overrides,
  };
}

/** Transcript lines reduced to their verbs (and HELO/EHLO names), for order checks. */
function verbs(sink: SmtpSink): string[] {
  return sink.transcript().map((line) => line.split(/[ :]/)[0]!.toUpperCase());
}

describe('client against the sink', () => {
  it('delivers with pipelining: per-recipient results, order, and what the sink stored', async () => {
    const sink = await sinkWith({
      onRcpt: (to) => (to.startsWith('bad') ? '550 5.1.1 No such user here' : undefined),
    });
    const conn = await open(sink);
    assert.ok(conn.extensions.has('PIPELINING'));
    const result = await conn.send(
      tx({
        recipients: [
          { address: 'one@sink.test' },
          { address: 'bad@sink.test' },
          { address: 'two@sink.test' },
        ],
      }),
    );
    assert.deepEqual(
      result.recipients.map((r) => [r.address, r.reply.code, r.reply.enhanced, r.accepted]),
      [
        ['one@sink.test', 250, '2.1.5', true],
        ['bad@sink.test', 550, '5.1.1', false],
        ['two@sink.test', 250, '2.1.5', true],
      ],
    );
    assert.equal(result.data?.code, 250);
    const [message] = await sink.waitForMessages(1);
    assert.deepEqual(message!.rcptTo, ['one@sink.test', 'two@sink.test']);
    assert.equal(message!.mailFrom, 'a@client.test');
    assert.deepEqual(verbs(sink), ['EHLO', 'MAIL', 'RCPT', 'RCPT', 'RCPT', 'DATA']);
    await conn.quit();
  });

  it('works one command at a time without PIPELINING', async () => {
    const sink = await sinkWith({ extensions: WITHOUT('PIPELINING') });
    const conn = await open(sink);
    assert.equal(conn.extensions.has('PIPELINING'), false);
    const result = await conn.send(
      tx({ recipients: [{ address: 'x@sink.test' }, { address: 'y@sink.test' }] }),
    );
    assert.deepEqual(
      result.recipients.map((r) => r.accepted),
      [true, true],
    );
    assert.equal(result.data?.code, 250);
    assert.deepEqual(verbs(sink), ['EHLO', 'MAIL', 'RCPT', 'RCPT', 'DATA']);
    conn.destroy();
  });

  it('falls back to HELO when EHLO is refused, and then uses no extensions', async () => {
    const sink = await sinkWith({ rejectEhlo: true });
    const conn = await open(sink);
    assert.equal(conn.extensions.size, 0);
    const result = await conn.send(tx());
    assert.equal(result.data?.code, 250);
    assert.deepEqual(sink.transcript().slice(0, 3), [
      'EHLO client.test',
      'HELO client.test',
      'MAIL FROM:<a@client.test>',
    ]);
    assert.equal((await sink.waitForMessages(1))[0]!.helo, 'client.test');
    conn.destroy();
  });

  it('sends the next message right after a finished one, with no RSET, and counts them', async () => {
    const sink = await sinkWith();
    const conn = await open(sink);
    await conn.send(tx());
    await conn.send(tx({ mailFrom: '' }));
    assert.equal(conn.messagesSent, 2);
    assert.equal(sink.connectionCount, 1);
    // The reply to the final dot ended the first transaction (RFC 5321 4.1.1.4).
    assert.deepEqual(verbs(sink), ['EHLO', 'MAIL', 'RCPT', 'DATA', 'MAIL', 'RCPT', 'DATA']);
    const messages = await sink.waitForMessages(2);
    assert.equal(messages[1]!.mailFrom, '');
    await conn.quit();
    assert.equal(sink.transcript().at(-1), 'QUIT');
  });

  it('sends RSET before the next message when the previous one stopped before its body', async () => {
    const sink = await sinkWith({ onRcpt: (to) => (to.startsWith('refused@') ? '550 5.1.1 no' : undefined) });
    const conn = await open(sink);
    const refused = await conn.send(tx({ recipients: [{ address: 'refused@client.test' }] }));
    assert.equal(refused.recipients[0]!.accepted, false);
    await conn.send(tx());
    assert.deepEqual(verbs(sink), ['EHLO', 'MAIL', 'RCPT', 'DATA', 'RSET', 'MAIL', 'RCPT', 'DATA']);
    assert.equal((await sink.waitForMessages(1)).length, 1);
    await conn.quit();
  });

  it('puts dot-stuffed, CRLF-canonical bytes on the wire', async () => {
    const sink = await sinkWith();
    const conn = await open(sink);
    const body = Buffer.from(
      'Subject: dots\r\n\r\n.leading dot\nbare LF\rbare CR\r\n..two\r\n.\r\nlast line',
      'latin1',
    );
    await conn.send(tx({ body, size: body.length }));
    const [message] = await sink.waitForMessages(1);
    assert.equal(
      message!.raw.toString('latin1'),
      'Subject: dots\r\n\r\n..leading dot\r\nbare LF\r\nbare CR\r\n...two\r\n..\r\nlast line\r\n',
    );
    assert.equal(
      message!.body.toString('latin1'),
      'Subject: dots\r\n\r\n.leading dot\r\nbare LF\r\nbare CR\r\n..two\r\n.\r\nlast line\r\n',
    );
    conn.destroy();
  });

  it('refuses locally, sending nothing, when 8BITMIME, SMTPUTF8 or SIZE do not allow the message', async () => {
    const sink = await sinkWith({ extensions: ['PIPELINING', 'SIZE 100'] });
    const conn = await open(sink);
    const eight = await conn.send(tx({ eightBit: true }));
    assert.deepEqual([eight.mail.code, eight.mail.enhanced, eight.local], [554, '5.6.3', true]);
    assert.match(eight.mail.text, /8BITMIME/);
    const utf8 = await conn.send(tx({ recipients: [{ address: 'jörg@sink.test' }] }));
    assert.deepEqual([utf8.mail.code, utf8.mail.enhanced], [553, '5.6.7']);
    assert.deepEqual(
      utf8.recipients.map((r) => [r.reply.code, r.accepted]),
      [[553, false]],
    );
    const big = await conn.send(tx({ size: 1000 }));
    assert.deepEqual([big.mail.code, big.mail.enhanced, big.data], [552, '5.3.4', undefined]);
    assert.deepEqual(verbs(sink), ['EHLO'], 'not a single command after EHLO');
    assert.equal(conn.messagesSent, 0);
    assert.equal(conn.usable, true);
    conn.destroy();
  });

  it('announces SIZE, BODY=8BITMIME and SMTPUTF8 when offered', async () => {
    const sink = await sinkWith();
    const conn = await open(sink);
    const body = Buffer.from('Subject: caf\u00e9\r\n\r\nx\r\n', 'utf8');
    await conn.send(
      tx({
        body,
        size: body.length,
        eightBit: true,
        smtputf8: true,
        recipients: [{ address: 'jörg@sink.test' }],
      }),
    );
    const [message] = await sink.waitForMessages(1);
    assert.equal(message!.mailParams, `SIZE=${body.length} BODY=8BITMIME SMTPUTF8`);
    assert.deepEqual(message!.rcptTo, ['jörg@sink.test']);
    assert.deepEqual(message!.body, body);
    conn.destroy();
  });

  it('passes DSN parameters only when the server offers DSN', async () => {
    const dsnTx = tx({
      ret: 'HDRS',
      envid: 'env+1',
      recipients: [
        {
          address: 'b@sink.test',
          notify: ['FAILURE', 'DELAY'],
          orcpt: { addrType: 'rfc822', address: 'b@sink.test' },
        },
      ],
    });
    const withDsn = await sinkWith();
    const conn1 = await open(withDsn);
    await conn1.send(dsnTx);
    const [m1] = await withDsn.waitForMessages(1);
    assert.equal(m1!.mailParams, `SIZE=${dsnTx.size} RET=HDRS ENVID=env+2B1`);
    assert.deepEqual(m1!.rcptParams, ['NOTIFY=FAILURE,DELAY ORCPT=rfc822;b@sink.test']);
    conn1.destroy();

    const withoutDsn = await sinkWith({ extensions: WITHOUT('DSN') });
    const conn2 = await open(withoutDsn);
    await conn2.send(dsnTx);
    const [m2] = await withoutDsn.waitForMessages(1);
    assert.equal(m2!.mailParams, `SIZE=${dsnTx.size}`);
    assert.deepEqual(m2!.rcptParams, ['']);
    conn2.destroy();
  });

  it('reports a hang-up after the final dot as CLOSED in data-term', async () => {
    const sink = await sinkWith({ hangupAfterDot: true });
    const conn = await open(sink);
    const error = await rejection(conn.send(tx()));
    assert.equal(error.code, 'CLOSED');
    assert.equal(error.phase, 'data-term');
    assert.equal(error.temporary, true);
    assert.equal(conn.usable, false);
  });

  it('times out a slow MAIL reply with ETIMEDOUT in the mail phase', async () => {
    const sink = await sinkWith();
    const conn = await open(sink, { timeouts: { mailMs: 100 } });
    sink.setScript({ replyDelayMs: 1000 });
    const error = await rejection(conn.send(tx()));
    assert.deepEqual([error.code, error.phase], ['ETIMEDOUT', 'mail']);
    assert.equal(conn.usable, false);
  });

  it('connects to another loopback address (127.0.0.2)', async () => {
    const sink = await sinkWith({}, '127.0.0.2');
    const conn = await open(sink);
    assert.equal(conn.ip, '127.0.0.2');
    assert.equal((await conn.send(tx())).data?.code, 250);
    conn.destroy();
  });

  it('upgrades with STARTTLS and delivers over TLS; verify checks the certificate', async () => {
    const material = testTlsCredentials();
    const sink = await sinkWith({ tls: material });
    const conn = await open(sink, { tls: 'verify', tlsOptions: { ca: material.cert } });
    assert.equal(conn.tls?.authorized, true);
    await conn.send(tx());
    const [message] = await sink.waitForMessages(1);
    assert.equal(message!.tls, true);
    assert.deepEqual(sink.transcript().slice(0, 3), ['EHLO client.test', 'STARTTLS', 'EHLO client.test']);
    conn.destroy();
    const wrongName = await rejection(
      open(sink, { tls: 'verify', mxHost: 'mx.elsewhere.test', tlsOptions: { ca: material.cert } }),
    );
    assert.equal(wrongName.code, 'TLS_FAILED');
  });
});
