/**
 * CHUNKING (RFC 3030 BDAT) and SMTPUTF8 refusals (RFC 6531), spoken over a raw
 * socket because none of the installed clients sends BDAT.
 *
 * Covers: several chunks ending with a zero-size BDAT LAST (stored byte for byte,
 * no dot handling, a CRLF split across chunks), the same pipelined in one write,
 * BDAT after errors (no MAIL, no valid recipient, after a failed chunk: the chunk is
 * always consumed, never read as commands), bare LF in a chunk under the default
 * line-ending policy (refused, nothing stored, the session continues), and UTF-8
 * addresses without the SMTPUTF8 parameter (553 5.6.7).
 */
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import { type InteropServer, queueId, startInteropServer, storedMessage } from '../harness/interop/server.ts';
import { type RawSession, rawSession } from '../harness/raw-session.ts';

describe('CHUNKING and SMTPUTF8 over a raw socket', () => {
  let mx: InteropServer;
  /** Sessions of the running test, closed after it even when it failed (so stop() need not drain them). */
  const open: RawSession[] = [];
  before(async () => {
    mx = await startInteropServer();
  });
  afterEach(() => {
    for (const s of open.splice(0)) s.close();
  });
  after(async () => {
    await mx.stop();
  });

  async function connect(): Promise<RawSession> {
    const s = await rawSession(mx.port);
    open.push(s);
    return s;
  }

  async function session(): Promise<RawSession> {
    const s = await connect();
    await s.expect(220);
    const ehlo = await s.command('EHLO client.example', 250);
    assert.ok(ehlo.includes('250-CHUNKING'), ehlo.join(' | '));
    return s;
  }

  /** Sends `BDAT <size>[ LAST]` and the chunk in one write. */
  function bdat(s: RawSession, chunk: string, last = false): void {
    const bytes = Buffer.from(chunk, 'utf8');
    s.send(Buffer.concat([Buffer.from(`BDAT ${bytes.length}${last ? ' LAST' : ''}\r\n`), bytes]));
  }

  it('stores several chunks and a zero-size BDAT LAST byte for byte, without dot handling', async () => {
    const chunks = [
      'Date: Mon, 1 Jan 2024 00:00:00 +0000\r\nMessage-ID: <bdat@client.example>\r\n',
      'Subject: chunked\r\n\r\n..two dots stay two dots\r',
      '\n.\r\nutf-8 ✓ and a CRLF split across chunks\r\n',
    ];
    const s = await session();
    await s.command('MAIL FROM:<a@example.net> BODY=8BITMIME', 250);
    await s.command('RCPT TO:<b@example.org>', 250);
    let total = 0;
    for (const chunk of chunks) {
      bdat(s, chunk);
      total += Buffer.byteLength(chunk);
      const lines = await s.expect(250);
      // A chunk that ends in CR is counted with the LF it expects (one octet early);
      // the count is informational (RFC 3030), the stored bytes below are what matter.
      const counted = chunk.endsWith('\r') ? [total, total + 1] : [total];
      assert.ok(
        counted.some((n) => lines[0] === `250 2.0.0 ${n} octets received`),
        `${lines[0]} after ${total} octets`,
      );
    }
    bdat(s, '', true);
    const lines = await s.expect(250);
    await s.command('QUIT', 221);
    s.close();
    const copy = await storedMessage(mx, queueId(lines.join('\n')));
    assert.equal(copy.rest.toString('utf8'), chunks.join(''));
    assert.equal(copy.message.envelope.bodyType, '8BITMIME');
    assert.equal(copy.message.headers.subject, 'chunked');
  });

  it('takes MAIL, RCPT and all BDAT chunks pipelined in one write and answers in order', async () => {
    const s = await session();
    const body = 'Subject: pipelined\r\n\r\nhello\r\n';
    const first = body.slice(0, 10);
    const second = body.slice(10);
    s.send(
      `MAIL FROM:<a@example.net>\r\nRCPT TO:<b@example.org>\r\nRCPT TO:<c@example.org>\r\n` +
        `BDAT ${first.length}\r\n${first}BDAT ${second.length} LAST\r\n${second}NOOP\r\n`,
    );
    await s.expect(250);
    await s.expect(250);
    await s.expect(250);
    assert.deepEqual(await s.expect(250), [`250 2.0.0 ${first.length} octets received`]);
    const lines = await s.expect(250);
    assert.deepEqual(await s.expect(250), ['250 2.0.0 Ok']);
    s.close();
    const copy = await storedMessage(mx, queueId(lines.join('\n')));
    assert.ok(copy.rest.toString('latin1').endsWith(body));
    assert.deepEqual(
      copy.message.recipients.map((r) => r.address),
      ['b@example.org', 'c@example.org'],
    );
  });

  it('consumes a BDAT chunk it refuses: without MAIL (503) and without a valid recipient (554)', async () => {
    const before = mx.received.count;
    const s = await session();
    bdat(s, 'QUIT\r\n', true);
    const noMail = await s.expect(503);
    assert.match(noMail[0]!, /^503 5\.5\.1 /);
    await s.command('NOOP', 250); // "QUIT" inside the chunk was data, not a command
    await s.command('MAIL FROM:<a@example.net>', 250);
    await s.command('RCPT TO:<not an address>', 501);
    bdat(s, 'RSET\r\n', true);
    const noRcpt = await s.expect(554);
    assert.match(noRcpt[0]!, /^554 5\.5\.1 /);
    await s.command('NOOP', 250);
    s.close();
    assert.equal(mx.received.count, before);
  });

  it('refuses a bare LF in the LAST chunk (554 5.6.0), stores nothing, and the session goes on', async () => {
    const before = mx.received.count;
    const s = await session();
    await s.command('MAIL FROM:<a@example.net>', 250);
    await s.command('RCPT TO:<b@example.org>', 250);
    bdat(s, 'Subject: bare lf\r\n\r\n');
    await s.expect(250);
    bdat(s, 'hello\n.\nMAIL FROM:<evil@example.net>\r\n', true);
    const refused = await s.expect(554);
    assert.match(refused[0]!, /^554 5\.6\.0 .*bare CR or LF/);
    await s.command('NOOP', 250);
    await s.command('RSET', 250);
    await s.command('MAIL FROM:<a@example.net>', 250);
    await s.command('RCPT TO:<b@example.org>', 250);
    bdat(s, 'Subject: after\r\n\r\nclean\r\n', true);
    const lines = await s.expect(250);
    s.close();
    await mx.received.waitForCount(before + 1);
    assert.equal(mx.received.count, before + 1, 'the refused message was stored');
    const copy = await storedMessage(mx, queueId(lines.join('\n')));
    assert.ok(copy.rest.toString('latin1').endsWith('Subject: after\r\n\r\nclean\r\n'));
  });

  it('refuses a bare LF in an earlier chunk at once; later chunks get 503 until RSET', async () => {
    const before = mx.received.count;
    const s = await session();
    await s.command('MAIL FROM:<a@example.net>', 250);
    await s.command('RCPT TO:<b@example.org>', 250);
    bdat(s, 'Subject: x\r\n\r\nbare\nlf\r\n');
    assert.match((await s.expect(554))[0]!, /^554 5\.6\.0 /);
    bdat(s, 'more\r\n');
    assert.match((await s.expect(503))[0]!, /^503 5\.5\.1 /);
    bdat(s, '', true);
    assert.match((await s.expect(503))[0]!, /^503 5\.5\.1 /);
    await s.command('RSET', 250);
    await s.command('MAIL FROM:<a@example.net>', 250);
    s.close();
    assert.equal(mx.received.count, before);
  });

  it('refuses DATA after BDAT in the same transaction', async () => {
    const s = await session();
    await s.command('MAIL FROM:<a@example.net>', 250);
    await s.command('RCPT TO:<b@example.org>', 250);
    bdat(s, 'Subject: x\r\n\r\n');
    await s.expect(250);
    await s.command('DATA', 503);
    s.close();
  });

  it('refuses UTF-8 addresses without SMTPUTF8 with 553 5.6.7, and takes them with it', async () => {
    const s = await session();
    for (const path of ['<jörg@example.net>', '<a@exämple.net>']) {
      const lines = await s.command(`MAIL FROM:${path}`, 553);
      assert.match(lines[0]!, /^553 5\.6\.7 /);
    }
    await s.command('MAIL FROM:<a@example.net>', 250);
    const rcpt = await s.command('RCPT TO:<empfänger@example.org>', 553);
    assert.match(rcpt[0]!, /^553 5\.6\.7 /);
    await s.command('RSET', 250);
    await s.command('MAIL FROM:<jörg@exämple.net> SMTPUTF8', 250);
    await s.command('RCPT TO:<empfänger@exämple.org>', 250);
    bdat(s, 'Subject: utf8\r\n\r\nok\r\n', true);
    const lines = await s.expect(250);
    s.close();
    const copy = await storedMessage(mx, queueId(lines.join('\n')));
    assert.equal(copy.message.envelope.smtputf8, true);
    assert.equal(copy.message.envelope.mailFrom, 'jörg@exämple.net');
    assert.deepEqual(copy.message.envelope.recipients, [{ address: 'empfänger@exämple.org' }]);
  });

  it('refuses SMTPUTF8 after HELO (not negotiated) with 555 5.5.4', async () => {
    const s = await connect();
    await s.expect(220);
    await s.command('HELO client.example', 250);
    const lines = await s.command('MAIL FROM:<a@example.net> SMTPUTF8', 555);
    assert.match(lines[0]!, /^555 5\.5\.4 /);
    s.close();
  });
});
