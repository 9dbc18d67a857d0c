/**
 * SMTP smuggling (inbound): the 13 end-of-data variants, each followed by a
 * complete smuggled transaction, sent to a real mxpress under both line-ending
 * policies, whole and split across packets. Whatever the server answers, it must
 * never store a message for the smuggled recipient, and it must store at most the
 * one message the client really sent.
 */
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { LifecycleEvent } from '../../src/contracts/events.ts';
import { settled } from '../harness/eventually.ts';
import { LineReader } from '../harness/line-reader.ts';
import { startTestServer, type TestServer } from '../harness/mxpress.ts';
import { END_OF_DATA_VARIANTS } from '../harness/smuggling-variants.ts';

const SMUGGLED =
  'MAIL FROM:<evil@attacker.example>\r\nRCPT TO:<victim@smuggled.example>\r\nDATA\r\nSubject: smuggled\r\n\r\nsmuggled\r\n.\r\n';

async function session(server: TestServer, variant: string, chunkSize: number): Promise<string[]> {
  const socket: Socket = connect(server.port, server.host);
  const reader = new LineReader(socket);
  const replies: string[] = [];
  const expect = async (code: number): Promise<void> => {
    const reply = await reader.reply();
    assert.ok(reply, `connection closed while waiting for ${code}`);
    assert.equal(reply.code, code, reply.lines.join(' | '));
  };
  try {
    await expect(220);
    socket.write('EHLO client.example\r\n');
    await expect(250);
    socket.write('MAIL FROM:<a@example.net>\r\nRCPT TO:<b@example.org>\r\nDATA\r\n');
    await expect(250);
    await expect(250);
    await expect(354);
    const payload = Buffer.from(`Subject: real\r\n\r\nreal body${variant}${SMUGGLED}`, 'latin1');
    for (let i = 0; i < payload.length; i += chunkSize) {
      socket.write(payload.subarray(i, i + chunkSize));
      if (chunkSize < payload.length) await new Promise((resolve) => setImmediate(resolve));
    }
    // Everything after this point is only read; the client says nothing more until QUIT.
    socket.write('QUIT\r\n');
    for (;;) {
      const reply = await reader.reply(3000).catch(() => undefined);
      if (!reply) break;
      replies.push(reply.lines.join(' | '));
      if (reply.code === 221) break;
    }
  } finally {
    socket.destroy();
  }
  return replies;
}

for (const policy of ['reject', 'normalize'] as const) {
  describe(`smuggling, lineEndings=${policy}`, () => {
    let server: TestServer;
    const received: LifecycleEvent[] = [];
    before(async () => {
      server = await startTestServer({
        argv: ['--dns-server', '127.0.0.1:9'],
        mutate: (c) => ({ ...c, smtp: { ...c.smtp, lineEndings: policy } }),
      });
      server.running.events.subscribe((e) => {
        if (e.type === 'received') received.push(e);
      });
    });
    after(async () => {
      await server.stop();
    });

    for (const [name, variant] of END_OF_DATA_VARIANTS) {
      for (const chunk of [100_000, 1, 3, 17]) {
        it(`${name} (chunks of ${chunk === 100_000 ? 'all' : chunk})`, async () => {
          const before = received.length;
          const replies = await session(server, variant, chunk);
          // The `received` event reaches the bus from the spool, beside the client's 250.
          await settled(
            () => received.length > before,
            replies.some((r) => r.includes('queued as')),
          );
          const stored = received.slice(before);
          for (const e of stored) {
            assert.ok(e.type === 'received');
            assert.deepEqual(
              e.recipients,
              ['b@example.org'],
              `smuggled recipient stored; replies: ${replies.join(' // ')}`,
            );
          }
          assert.ok(stored.length <= 1, `more than one message stored: ${replies.join(' // ')}`);
          const queued = replies.filter((r) => r.includes('queued as'));
          assert.ok(queued.length <= 1, `more than one 250 queued reply: ${replies.join(' // ')}`);
          if (policy === 'normalize' && !name.startsWith('NUL')) {
            // The whole thing up to the real CRLF.CRLF is one message; the smuggled commands are its text.
            assert.equal(stored.length, 1, replies.join(' // '));
          }
          if (policy === 'reject' && !name.startsWith('NUL')) {
            assert.equal(stored.length, 0, replies.join(' // '));
            assert.ok(
              replies.some((r) => r.startsWith('521 5.5.2')),
              replies.join(' // '),
            );
          }
        });
      }
    }
  });
}
