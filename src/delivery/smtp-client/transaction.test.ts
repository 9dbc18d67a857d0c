// Transactions against hand-driven servers on 127.0.0.1, for what needs exact control of
// packets and replies: pipelining in one write, RFC 2920 edge cases, timeouts, 421s.
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { type RawPeer, type RawServer, rejection, startRawServer } from './raw-peer.testkit.ts';
import { openSmtpConnection } from './session.ts';
import type { ClientTimeouts, OutboundTransaction, SmtpConnection } from './types.ts';

const servers: RawServer[] = [];
after(async () => {
  for (const server of servers) {
    assert.deepEqual(server.handlerErrors, [], 'server handlers ran to completion');
    await server.close();
  }
});

/** Starts a server whose connections get greeting + EHLO with `keywords`, then `script`. */
async function connect(
  keywords: string[],
  script: (peer: RawPeer) => Promise<void>,
  timeouts: Partial<ClientTimeouts> = {},
): Promise<{ conn: SmtpConnection; server: RawServer }> {
  const server = await startRawServer(async (peer) => {
    await peer.greetAndEhlo(keywords);
    await script(peer);
  });
  servers.push(server);
  const conn = await openSmtpConnection({
    host: server.host,
    port: server.port,
    mxHost: 'raw.test',
    localHostname: 'client.test',
    tls: 'none',
    timeouts: { connectMs: 2000, greetingMs: 2000, ehloMs: 2000, mailMs: 2000, rcptMs: 2000, ...timeouts },
  });
  return { conn, server };
}

function tx(recipients: string[], body = 'Subject: t\r\n\r\nhello\r\n'): OutboundTransaction {
  return {
    mailFrom: 'sender@client.test',
    recipients: recipients.map((address) => ({ address })),
    body: Buffer.from(body, 'latin1'),
    size: body.length,
    eightBit: false,
    smtputf8: false,
  };
}

describe('transactions with PIPELINING', () => {
  it('sends MAIL, every RCPT and DATA in one write and matches replies in order', async () => {
    let firstChunk = '';
    let dataStream: Buffer = Buffer.alloc(0);
    const { conn, server } = await connect(['PIPELINING', '8BITMIME'], async (peer) => {
      const before = peer.chunks.length;
      await peer.expect('MAIL FROM:<sender@client.test>');
      firstChunk = Buffer.concat(peer.chunks.slice(before)).toString('latin1');
      await peer.expect('RCPT TO:<a@raw.test>');
      await peer.expect('RCPT TO:<b@raw.test>');
      await peer.expect('RCPT TO:<c@raw.test>');
      await peer.expect('DATA');
      peer.write(
        '250 2.1.0 ok\r\n250 2.1.5 ok\r\n550 5.1.1 no such user\r\n251 2.1.5 forwarded\r\n354 go\r\n',
      );
      dataStream = await peer.readUntil('\r\n.\r\n');
      peer.write('250 2.0.0 queued as X\r\n');
      await peer.expect('QUIT');
      peer.write('221 bye\r\n');
    });
    const result = await conn.send(tx(['a@raw.test', 'b@raw.test', 'c@raw.test']));
    assert.equal(
      firstChunk,
      'MAIL FROM:<sender@client.test>\r\nRCPT TO:<a@raw.test>\r\nRCPT TO:<b@raw.test>\r\nRCPT TO:<c@raw.test>\r\nDATA\r\n',
      'one packet',
    );
    assert.deepEqual(result.mail, { code: 250, enhanced: '2.1.0', text: 'ok' });
    assert.deepEqual(
      result.recipients.map((r) => [r.address, r.reply.code, r.accepted]),
      [
        ['a@raw.test', 250, true],
        ['b@raw.test', 550, false],
        ['c@raw.test', 251, true],
      ],
    );
    assert.deepEqual(result.data, { code: 250, enhanced: '2.0.0', text: 'queued as X' });
    assert.equal(dataStream.toString('latin1'), 'Subject: t\r\n\r\nhello\r\n.\r\n');
    assert.equal(conn.messagesSent, 1);
    assert.ok(result.durationMs >= 0);
    await conn.quit();
    await server.peers[0]!.closed;
  });

  it('drops the session when DATA gets 354 although no recipient was accepted', async () => {
    const { conn, server } = await connect(['PIPELINING'], async (peer) => {
      await peer.expect('MAIL');
      await peer.expect('RCPT');
      await peer.expect('DATA');
      peer.write('250 ok\r\n550 no\r\n354 go ahead anyway\r\n');
      await peer.closed;
    });
    const result = await conn.send(tx(['a@raw.test']));
    assert.equal(result.data, undefined);
    assert.equal(result.recipients[0]!.accepted, false);
    assert.equal(conn.usable, false);
    await server.peers[0]!.closed;
    const stream = Buffer.concat(server.peers[0]!.chunks).toString('latin1');
    assert.ok(!stream.includes('hello'), 'no body was sent');
  });

  it('reports a 421 to RCPT on the remaining recipients and ends the session', async () => {
    const { conn, server } = await connect(['PIPELINING'], async (peer) => {
      await peer.expect('MAIL');
      await peer.expect('RCPT');
      await peer.expect('RCPT');
      await peer.expect('RCPT');
      await peer.expect('DATA');
      peer.write('250 ok\r\n250 ok\r\n421 4.7.0 too many errors, closing\r\n');
      peer.end();
    });
    const result = await conn.send(tx(['a@raw.test', 'b@raw.test', 'c@raw.test']));
    assert.deepEqual(
      result.recipients.map((r) => [r.reply.code, r.accepted]),
      [
        [250, true],
        [421, false],
        [421, false],
      ],
    );
    assert.equal(result.data, undefined, 'no DATA on a closing session');
    assert.equal(conn.usable, false);
    await server.peers[0]!.closed;
  });

  it('gives recipients the MAIL reply when MAIL is refused', async () => {
    const { conn } = await connect(['PIPELINING'], async (peer) => {
      await peer.expect('MAIL');
      await peer.expect('RCPT');
      await peer.expect('DATA');
      peer.write('451 4.3.0 try later\r\n503 5.5.1 need MAIL\r\n503 5.5.1 need RCPT\r\n');
      await peer.closed;
    });
    const result = await conn.send(tx(['a@raw.test']));
    assert.equal(result.mail.code, 451);
    assert.deepEqual(result.recipients[0], { address: 'a@raw.test', reply: result.mail, accepted: false });
    assert.equal(result.data, undefined);
    assert.equal(conn.usable, true);
    conn.destroy();
  });
});

/** Server side of a first message to a@raw.test and, chained after its dot, the group of one to b@raw.test. */
async function firstThenChained(peer: RawPeer, mailSuffix = ''): Promise<void> {
  await peer.expect(`MAIL FROM:<sender@client.test>${mailSuffix}`);
  await peer.expect('RCPT TO:<a@raw.test>');
  await peer.expect('DATA');
  peer.write('250 ok\r\n250 ok\r\n354 go\r\n');
  await peer.readUntil('\r\n.\r\n');
  await peer.expect('MAIL FROM:<sender@client.test>');
  await peer.expect('RCPT TO:<b@raw.test>');
  await peer.expect('DATA');
}

describe('chained transactions (the next MAIL rides with the final dot)', () => {
  it('writes the body, the dot and the next MAIL, RCPT and DATA in one packet; the next send reads their replies', async () => {
    let chained = '';
    const { conn } = await connect(['PIPELINING'], async (peer) => {
      await peer.expect('MAIL FROM:<sender@client.test>');
      await peer.expect('RCPT TO:<a@raw.test>');
      await peer.expect('DATA');
      peer.write('250 ok\r\n250 ok\r\n354 go\r\n');
      const before = peer.chunks.length;
      await peer.readUntil('\r\n.\r\n');
      await peer.expect('MAIL FROM:<sender@client.test>');
      await peer.expect('RCPT TO:<b@raw.test>');
      await peer.expect('DATA');
      chained = Buffer.concat(peer.chunks.slice(before)).toString('latin1');
      peer.write('250 2.0.0 first\r\n250 ok\r\n250 ok\r\n354 go\r\n');
      await peer.readUntil('\r\n.\r\n');
      peer.write('250 2.0.0 second\r\n');
      await peer.expect('QUIT');
      peer.write('221 bye\r\n');
    });
    const second = tx(['b@raw.test'], 'Subject: 2\r\n\r\nsecond\r\n');
    const first = await conn.send(tx(['a@raw.test']), () => second);
    assert.equal(first.data?.text, 'first');
    assert.equal(conn.presented, second);
    assert.equal(conn.messagesSent, 2);
    assert.equal(
      chained,
      'Subject: t\r\n\r\nhello\r\n.\r\nMAIL FROM:<sender@client.test>\r\nRCPT TO:<b@raw.test>\r\nDATA\r\n',
      'one packet: no RSET, nothing before the dot',
    );
    const result = await conn.send(second);
    assert.equal(result.data?.text, 'second');
    assert.equal(conn.presented, undefined);
    await conn.quit();
  });

  it('refuses to send another transaction than the one announced, and never parks such a connection', async () => {
    const { conn } = await connect(['PIPELINING'], async (peer) => {
      await firstThenChained(peer);
      peer.write('250 done\r\n');
    });
    const announced = tx(['b@raw.test']);
    await conn.send(tx(['a@raw.test']), () => announced);
    const error = await rejection(conn.send(tx(['c@raw.test'])));
    assert.match(error.message, /announced/);
    assert.equal(conn.usable, false);
  });

  it('a 421 to the first final dot leaves the announced one unsent and the connection unusable', async () => {
    const { conn } = await connect(['PIPELINING'], async (peer) => {
      await firstThenChained(peer);
      peer.write('421 4.3.2 shutting down\r\n');
      peer.end();
    });
    const announced = tx(['b@raw.test']);
    const first = await conn.send(tx(['a@raw.test']), () => announced);
    assert.equal(first.data?.code, 421);
    assert.equal(conn.usable, false, 'the caller sends the announced message on another connection');
    await conn.quit();
  });

  it('does not announce a transaction the server cannot take (SIZE): its own send refuses it locally', async () => {
    const { conn } = await connect(['PIPELINING', 'SIZE 1000'], async (peer) => {
      await peer.expect(`MAIL FROM:<sender@client.test> SIZE=${tx([]).size}`);
      await peer.expect('RCPT TO:<a@raw.test>');
      await peer.expect('DATA');
      peer.write('250 ok\r\n250 ok\r\n354 go\r\n');
      await peer.readUntil('\r\n.\r\n');
      peer.write('250 done\r\n');
      await peer.expect('QUIT');
      peer.write('221 bye\r\n');
    });
    const big = { ...tx(['b@raw.test']), size: 5000 };
    await conn.send(tx(['a@raw.test']), () => big);
    assert.equal(conn.presented, undefined);
    const refused = await conn.send(big);
    assert.equal(refused.local, true);
    await conn.quit();
  });
});

describe('transactions without PIPELINING', () => {
  it('sends one command at a time and RSETs instead of DATA when nobody was accepted', async () => {
    const chunksPerCommand: string[] = [];
    const { conn } = await connect([], async (peer) => {
      for (const [prefix, reply] of [
        ['MAIL', '250 ok'],
        ['RCPT TO:<a@raw.test>', '550 5.1.1 unknown'],
        ['RCPT TO:<b@raw.test>', '450 4.2.1 later'],
        ['RSET', '250 reset'],
      ] as const) {
        const before = peer.chunks.length;
        await peer.expect(prefix);
        chunksPerCommand.push(Buffer.concat(peer.chunks.slice(before)).toString('latin1'));
        peer.write(`${reply}\r\n`);
      }
      await peer.closed;
    });
    const result = await conn.send(tx(['a@raw.test', 'b@raw.test']));
    assert.deepEqual(chunksPerCommand, [
      'MAIL FROM:<sender@client.test>\r\n',
      'RCPT TO:<a@raw.test>\r\n',
      'RCPT TO:<b@raw.test>\r\n',
      'RSET\r\n',
    ]);
    assert.deepEqual(
      result.recipients.map((r) => r.reply.code),
      [550, 450],
    );
    assert.equal(result.data, undefined);
    assert.equal(conn.usable, true);
    conn.destroy();
  });

  it('times out waiting for the reply to the final dot', async () => {
    const { conn, server } = await connect(
      [],
      async (peer) => {
        await peer.dialogue([
          ['MAIL', '250 ok'],
          ['RCPT', '250 ok'],
          ['DATA', '354 go'],
        ]);
        await peer.readUntil('\r\n.\r\n');
        await peer.closed; // never answers
      },
      { dataTermMs: 150 },
    );
    const error = await rejection(conn.send(tx(['a@raw.test'])));
    assert.equal(error.code, 'ETIMEDOUT');
    assert.equal(error.phase, 'data-term');
    assert.equal(error.temporary, true);
    assert.equal(conn.usable, false);
    await server.peers[0]!.closed;
  });

  it('treats 250 to DATA as a protocol error', async () => {
    const { conn } = await connect([], async (peer) => {
      await peer.dialogue([
        ['MAIL', '250 ok'],
        ['RCPT', '250 ok'],
        ['DATA', '250 sure'],
      ]);
      await peer.closed;
    });
    const error = await rejection(conn.send(tx(['a@raw.test'])));
    assert.equal(error.code, 'PROTOCOL');
    assert.equal(error.phase, 'data');
    assert.equal(conn.usable, false);
    const again = await rejection(conn.send(tx(['a@raw.test'])));
    assert.deepEqual([again.code, again.phase, again.cause], ['CLOSED', 'mail', error]);
  });

  it('writes a large body through backpressure intact', async () => {
    const line = `${'x'.repeat(70)}\r\n`;
    const body = `Subject: big\r\n\r\n${line.repeat(60_000)}`; // ~4.3 MB
    let received = 0;
    const { conn } = await connect(['SIZE 100000000'], async (peer) => {
      await peer.dialogue([
        ['MAIL FROM:<sender@client.test> SIZE=', '250 ok'],
        ['RCPT', '250 ok'],
        ['DATA', '354 go'],
      ]);
      received = (await peer.readUntil('\r\n.\r\n', 10_000)).length;
      peer.write('250 ok\r\n');
      await peer.closed;
    });
    const result = await conn.send(tx(['a@raw.test'], body));
    assert.equal(result.data?.code, 250);
    assert.equal(received, body.length + 3);
    conn.destroy();
  });
});

describe('SmtpConnection.send guards', () => {
  it('refuses control characters locally and stays usable; refuses a concurrent send', async () => {
    const { conn, server } = await connect([], async (peer) => {
      await peer.dialogue([
        ['MAIL FROM:<sender@client.test>', '250 ok'],
        ['RCPT', '250 ok'],
        ['DATA', '354 go'],
      ]);
      await peer.readUntil('\r\n.\r\n');
      peer.write('250 ok\r\n');
      await peer.closed;
    });
    const bad = await rejection(conn.send(tx(['a@raw.test\r\nRCPT TO:<evil@x>'])));
    assert.equal(bad.code, 'PROTOCOL');
    assert.equal(bad.temporary, false);
    assert.equal(conn.usable, true);
    const first = conn.send(tx(['a@raw.test']));
    const busy = await rejection(conn.send(tx(['b@raw.test'])));
    assert.equal(busy.code, 'BUSY');
    assert.equal((await first).data?.code, 250);
    const seen = Buffer.concat(server.peers[0]!.chunks).toString('latin1');
    assert.ok(!seen.includes('evil'), 'nothing of the refused transaction was sent');
    conn.destroy();
  });
});
