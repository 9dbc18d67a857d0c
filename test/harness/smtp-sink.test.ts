/**
 * The SMTP sink, driven over real sockets with the raw client.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { type RawSmtp, rawSmtp } from './smtp-client.ts';
import { type SmtpSink, startSmtpSink } from './smtp-sink.ts';
import { testTlsCredentials } from './tls-fixture.ts';

let sink: SmtpSink;

before(async () => {
  sink = await startSmtpSink();
});

after(() => sink.close());

async function connect(target: SmtpSink = sink): Promise<RawSmtp> {
  const client = await rawSmtp(target.host, target.port);
  const banner = await client.readReply();
  assert.equal(banner.code, 220);
  return client;
}

async function exchange(client: RawSmtp, line: string, code: number): Promise<string[]> {
  client.send(`${line}\r\n`);
  const reply = await client.readReply();
  assert.equal(reply.code, code, `${line} -> ${reply.raw}`);
  return reply.lines;
}

test('EHLO lists the default extensions; a transaction is recorded with raw and unstuffed bytes', async () => {
  sink.setScript({});
  const client = await connect();
  const ehlo = await exchange(client, 'EHLO client.test', 250);
  assert.deepEqual(ehlo.slice(1), [
    'PIPELINING',
    '8BITMIME',
    'SMTPUTF8',
    'ENHANCEDSTATUSCODES',
    'SIZE 104857600',
    'DSN',
    'CHUNKING',
  ]);
  await exchange(client, 'MAIL FROM:<a@client.test> BODY=8BITMIME', 250);
  await exchange(client, 'RCPT TO:<b@sink.test> NOTIFY=NEVER', 250);
  await exchange(client, 'RCPT TO:<c@sink.test>', 250);
  await exchange(client, 'DATA', 354);
  const count = sink.messages.length;
  // Only CRLF "." CRLF ends the data: not LF "." CRLF, not "." followed by more text.
  client.send('Subject: x\r\n\r\n..leading dot\r\nbare\n.\r\n.x\r\n.\r\n');
  assert.deepEqual(await client.readReply(), {
    code: 250,
    lines: ['2.0.0 Ok: queued'],
    raw: '250 2.0.0 Ok: queued\r\n',
  });
  const [message] = (await sink.waitForMessages(count + 1)).slice(count);
  assert.ok(message);
  assert.equal(message.raw.toString(), 'Subject: x\r\n\r\n..leading dot\r\nbare\n.\r\n.x\r\n');
  assert.equal(message.body.toString(), 'Subject: x\r\n\r\n.leading dot\r\nbare\n.\r\nx\r\n');
  assert.equal(message.helo, 'client.test');
  assert.equal(message.mailFrom, 'a@client.test');
  assert.equal(message.mailParams, 'BODY=8BITMIME');
  assert.deepEqual(message.rcptTo, ['b@sink.test', 'c@sink.test']);
  assert.deepEqual(message.rcptParams, ['NOTIFY=NEVER', '']);
  assert.equal(message.tls, false);
  await exchange(client, 'QUIT', 221);
  await client.expectClosed();
  assert.deepEqual(sink.transcript(message.connectionId), [
    'EHLO client.test',
    'MAIL FROM:<a@client.test> BODY=8BITMIME',
    'RCPT TO:<b@sink.test> NOTIFY=NEVER',
    'RCPT TO:<c@sink.test>',
    'DATA',
    'QUIT',
  ]);
});

test('pipelined commands are answered in order; the terminator may arrive split', async () => {
  sink.setScript({ onRcpt: (to) => (to.startsWith('bad') ? '550 5.1.1 No such user here' : undefined) });
  const client = await connect();
  await exchange(client, 'EHLO p.test', 250);
  client.send('MAIL FROM:<>\r\nRCPT TO:<bad@sink.test>\r\nRCPT TO:<good@sink.test>\r\nDATA\r\n');
  const codes = [];
  for (let i = 0; i < 4; i++) codes.push((await client.readReply()).code);
  assert.deepEqual(codes, [250, 550, 250, 354]);
  const count = sink.messages.length;
  for (const piece of ['line\r', '\n.', '\r', '\nRSET\r\n']) client.send(piece);
  assert.equal((await client.readReply()).code, 250);
  assert.equal((await client.readReply()).code, 250); // RSET, sent in the same packet as the dot
  const [message] = (await sink.waitForMessages(count + 1)).slice(count);
  assert.equal(message?.raw.toString(), 'line\r\n');
  assert.deepEqual(message?.rcptTo, ['good@sink.test']);
  assert.equal(message?.mailFrom, '');
  client.close();
});

test('BDAT chunks and several transactions per connection; RSET drops a transaction', async () => {
  sink.setScript({});
  const client = await connect();
  await exchange(client, 'EHLO b.test', 250);
  const count = sink.messages.length;
  await exchange(client, 'MAIL FROM:<x@b.test>', 250);
  await exchange(client, 'RCPT TO:<y@sink.test>', 250);
  client.send('BDAT 5\r\nab\r\n.');
  assert.equal((await client.readReply()).lines[0], '2.0.0 5 octets received');
  client.send('BDAT 3 LAST\r\nxyz');
  assert.equal((await client.readReply()).code, 250);
  await exchange(client, 'MAIL FROM:<x@b.test>', 250);
  await exchange(client, 'RSET', 250);
  await exchange(client, 'RCPT TO:<y@sink.test>', 503);
  await exchange(client, 'MAIL FROM:<second@b.test>', 250);
  await exchange(client, 'RCPT TO:<y@sink.test>', 250);
  await exchange(client, 'DATA', 354);
  client.send('.\r\n');
  assert.equal((await client.readReply()).code, 250);
  const got = (await sink.waitForMessages(count + 2)).slice(count);
  assert.deepEqual(
    got.map((m) => [m.mailFrom, m.raw.toString()]),
    [
      ['x@b.test', 'ab\r\n.xyz'],
      ['second@b.test', ''],
    ],
  );
  client.close();
});

test('sequence errors: MAIL before EHLO, DATA without recipients, unknown verbs', async () => {
  sink.setScript({ onMail: (from) => (from === 'later@x.test' ? '451 4.3.0 try later' : undefined) });
  const client = await connect();
  await exchange(client, 'MAIL FROM:<a@x.test>', 503);
  await exchange(client, 'HELO x.test', 250);
  await exchange(client, 'MAIL FROM:<later@x.test>', 451);
  await exchange(client, 'RCPT TO:<b@x.test>', 503);
  await exchange(client, 'MAIL FROM:<a@x.test>', 250);
  await exchange(client, 'MAIL FROM:<a@x.test>', 503);
  await exchange(client, 'DATA', 554);
  await exchange(client, 'STARTTLS', 502);
  await exchange(client, 'WHATEVER', 500);
  await exchange(client, 'NOOP', 250);
  client.close();
});

test('rejectEhlo, custom banner and extensions, onData verdicts', async () => {
  sink.setScript({
    banner: '220-sink.test first\n220 second',
    extensions: ['SIZE 1000'],
    onData: (m) => (m.body.includes('reject') ? '554 5.7.1 no thanks' : undefined),
  });
  const client = await rawSmtp(sink.host, sink.port);
  assert.deepEqual((await client.readReply()).lines, ['sink.test first', 'second']);
  assert.deepEqual(await exchange(client, 'EHLO e.test', 250), ['sink.test greets e.test', 'SIZE 1000']);
  const count = sink.messages.length;
  await exchange(client, 'MAIL FROM:<a@e.test>', 250);
  await exchange(client, 'RCPT TO:<b@e.test>', 250);
  await exchange(client, 'DATA', 354);
  client.send('please reject\r\n.\r\n');
  assert.equal((await client.readReply()).code, 554);
  assert.equal(sink.messages.length, count);
  client.send('BDAT 1 LAST\r\nx');
  assert.equal((await client.readReply()).code, 502);
  sink.setScript({ rejectEhlo: true });
  await exchange(client, 'EHLO e.test', 502);
  await exchange(client, 'HELO e.test', 250);
  client.close();
});

test('onConnect can refuse with 421 or hang up; connections are counted', async () => {
  const before = sink.connectionCount;
  sink.setScript({ onConnect: ({ connectionId }) => (connectionId % 2 === 0 ? 'refuse-421' : 'hangup') });
  for (let i = 0; i < 2; i++) {
    const client = await rawSmtp(sink.host, sink.port);
    const refused = (before + i + 1) % 2 === 0;
    if (refused) assert.equal((await client.readReply()).code, 421);
    await client.expectClosed();
    if (!refused) assert.equal(client.received(), '');
  }
  assert.equal(sink.connectionCount, before + 2);
});

test('hangupAfterDot records the message and closes; stallInData never answers', async () => {
  sink.setScript({ hangupAfterDot: true });
  const count = sink.messages.length;
  const first = await connect();
  await exchange(first, 'EHLO h.test', 250);
  await exchange(first, 'MAIL FROM:<a@h.test>', 250);
  await exchange(first, 'RCPT TO:<b@h.test>', 250);
  await exchange(first, 'DATA', 354);
  first.send('body\r\n.\r\n');
  await first.expectClosed();
  assert.equal(sink.messages.length, count + 1);

  sink.setScript({ stallInData: true });
  const second = await connect();
  await exchange(second, 'EHLO s.test', 250);
  await exchange(second, 'MAIL FROM:<a@s.test>', 250);
  await exchange(second, 'RCPT TO:<b@s.test>', 250);
  await exchange(second, 'DATA', 354);
  second.send('body\r\n.\r\nQUIT\r\n');
  await assert.rejects(second.readReply(300), /no complete reply within 300 ms/);
  assert.equal(sink.messages.length, count + 1);
  second.close();
});

test('replyDelayMs delays every reply, the banner included', async () => {
  sink.setScript({ replyDelayMs: 150 });
  const started = performance.now();
  const client = await rawSmtp(sink.host, sink.port);
  await assert.rejects(client.readReply(50), /no complete reply/);
  await client.readReply();
  client.send('NOOP\r\nNOOP\r\n');
  await client.readReply();
  await client.readReply();
  assert.ok(performance.now() - started >= 440, 'three delayed replies');
  client.close();
});

test('STARTTLS: upgrade, pipelined plaintext discarded, EHLO again, message marked tls', async () => {
  sink.setScript({ tls: testTlsCredentials() });
  const client = await connect();
  const ehlo = await exchange(client, 'EHLO t.test', 250);
  assert.equal(ehlo.at(-1), 'STARTTLS');
  client.send('STARTTLS\r\nNOOP\r\n');
  assert.equal((await client.readReply()).code, 220);
  await client.startTls();
  await exchange(client, 'MAIL FROM:<a@t.test>', 503); // state was reset, NOOP never answered
  assert.ok(!(await exchange(client, 'EHLO t.test', 250)).includes('STARTTLS'));
  const count = sink.messages.length;
  await exchange(client, 'MAIL FROM:<a@t.test>', 250);
  await exchange(client, 'RCPT TO:<b@t.test>', 250);
  await exchange(client, 'DATA', 354);
  client.send('secret\r\n.\r\n');
  assert.equal((await client.readReply()).code, 250);
  const [message] = (await sink.waitForMessages(count + 1)).slice(count);
  assert.equal(message?.tls, true);
  assert.equal(message?.helo, 't.test');
  client.close();
});

test('a sink binds other loopback addresses', async () => {
  const other = await startSmtpSink({ host: '127.0.0.2' });
  try {
    const client = await connect(other);
    await exchange(client, 'QUIT', 221);
    assert.equal(other.host, '127.0.0.2');
    await assert.rejects(other.waitForMessages(1, 50), /expected 1 messages within 50 ms, got 0/);
  } finally {
    await other.close();
  }
});
