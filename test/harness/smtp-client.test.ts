/**
 * The raw test client: against the sink, and against a bare TCP server that
 * writes exactly the bytes each test needs.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type Socket } from 'node:net';
import { test } from 'node:test';
import { rawSmtp } from './smtp-client.ts';
import { startSmtpSink } from './smtp-sink.ts';
import { testTlsCredentials } from './tls-fixture.ts';

/** A TCP server on loopback that hands each connection to `serve`. */
async function bareServer(
  serve: (socket: Socket) => void,
): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    serve(socket);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  assert.ok(address !== null && typeof address === 'object');
  return {
    port: address.port,
    async close() {
      for (const socket of sockets) socket.destroy();
      const closed = once(server, 'close');
      server.close();
      await closed;
    },
  };
}

test('reads multi-line replies split across packets, one reply at a time', async () => {
  const { port, close } = await bareServer((socket) => {
    socket.write('220-first\r\n22');
    socket.once('data', () => socket.write('0 second\r\n250 ok\r\n'));
  });
  try {
    const client = await rawSmtp('127.0.0.1', port);
    // Only part of the reply has been sent: no reply yet, and the part is kept.
    await assert.rejects(client.readReply(100), /no complete reply/);
    client.send('go\r\n');
    assert.deepEqual(await client.readReply(), {
      code: 220,
      lines: ['first', 'second'],
      raw: '220-first\r\n220 second\r\n',
    });
    assert.deepEqual(await client.readReply(), { code: 250, lines: ['ok'], raw: '250 ok\r\n' });
    assert.equal(client.received(), '220-first\r\n220 second\r\n250 ok\r\n');
    client.close();
  } finally {
    await close();
  }
});

test('a bare code line is a complete reply; malformed lines and mixed codes reject', async () => {
  const { port, close } = await bareServer((socket) => {
    socket.once('data', (line: Buffer) => {
      if (line.toString() === 'bare\r\n') socket.write('250\r\n');
      if (line.toString() === 'junk\r\n') socket.write('hello there\r\n');
      if (line.toString() === 'mixed\r\n') socket.write('250-a\r\n251 b\r\n');
    });
  });
  try {
    const bare = await rawSmtp('127.0.0.1', port);
    bare.send('bare\r\n');
    assert.deepEqual(await bare.readReply(), { code: 250, lines: [''], raw: '250\r\n' });
    bare.close();
    for (const [input, pattern] of [
      ['junk', /malformed reply line: "hello there"/],
      ['mixed', /malformed reply line: "251 b"/],
    ] as const) {
      const client = await rawSmtp('127.0.0.1', port);
      client.send(`${input}\r\n`);
      await assert.rejects(client.readReply(), pattern);
      client.close();
    }
  } finally {
    await close();
  }
});

test('readReply rejects on timeout and on close; expectClosed waits for the hangup', async () => {
  const { port, close } = await bareServer((socket) => {
    socket.on('data', (data: Buffer) => {
      if (data.toString() === 'bye\r\n') socket.end('221-partial\r\n');
    });
  });
  try {
    const client = await rawSmtp('127.0.0.1', port);
    await assert.rejects(client.readReply(100), /no complete reply within 100 ms/);
    await assert.rejects(client.expectClosed(100), /still open/);
    client.send('bye\r\n');
    await assert.rejects(client.readReply(), /connection closed before a complete reply/);
    await client.expectClosed();
  } finally {
    await close();
  }
  await assert.rejects(rawSmtp('127.0.0.1', port), /ECONNREFUSED/);
});

test('a full session against the sink, with STARTTLS', async () => {
  const sink = await startSmtpSink({ script: { tls: testTlsCredentials() } });
  try {
    const client = await rawSmtp(sink.host, sink.port);
    assert.equal((await client.readReply()).code, 220);
    client.send('EHLO raw.test\r\n');
    assert.ok((await client.readReply()).lines.includes('STARTTLS'));
    client.send('STARTTLS\r\n');
    assert.equal((await client.readReply()).code, 220);
    await client.startTls();
    client.send('EHLO raw.test\r\nMAIL FROM:<a@raw.test>\r\nRCPT TO:<b@sink.test>\r\nDATA\r\n');
    const codes = [];
    for (let i = 0; i < 4; i++) codes.push((await client.readReply()).code);
    assert.deepEqual(codes, [250, 250, 250, 354]);
    client.send('hi\r\n.\r\nQUIT\r\n');
    assert.equal((await client.readReply()).code, 250);
    assert.equal((await client.readReply()).code, 221);
    await client.expectClosed();
    const [message] = await sink.waitForMessages(1);
    assert.equal(message?.tls, true);
    assert.equal(message?.raw.toString(), 'hi\r\n');
    assert.match(client.received(), /^220 sink\.test ESMTP\r\n/);
  } finally {
    await sink.close();
  }
});
