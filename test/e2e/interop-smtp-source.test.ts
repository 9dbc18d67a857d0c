/**
 * Interoperability with Postfix's smtp-source (a test load generator that speaks
 * plain HELO SMTP): several parallel sessions each sending several messages over one
 * connection with several recipients, and its "old mode" that skips HELO (refused
 * with 503, nothing stored). Kept small: this is a protocol check, not a load test.
 * Skips when smtp-source is not installed.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { has, run } from '../harness/interop/peers.ts';
import { type InteropServer, startInteropServer, storedMessage } from '../harness/interop/server.ts';

const skip = !has('smtp-source') && 'smtp-source (postfix) not installed';

describe('smtp-source', { skip }, () => {
  let mx: InteropServer;
  before(async () => {
    mx = await startInteropServer();
  });
  after(async () => {
    await mx.stop();
  });

  it('2 sessions x 3 messages x 3 recipients over reused HELO connections are all stored', async () => {
    const before = mx.received.count;
    const r = await run('smtp-source', [
      '-d',
      '-s',
      '2',
      '-m',
      '6',
      '-r',
      '3',
      '-l',
      '5000',
      '-N',
      '-f',
      'a@example.net',
      '-t',
      'rcpt@example.org',
      '-M',
      'client.example',
      `127.0.0.1:${mx.port}`,
    ]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const events = (await mx.received.waitForCount(before + 6)).slice(before);
    assert.equal(events.length, 6);
    const recipients = events.flatMap((e) => e.recipients).sort();
    const expected = Array.from({ length: 18 }, (_, i) => `${i + 1}rcpt@example.org`).sort();
    assert.deepEqual(recipients, expected);
    const copies = await Promise.all(events.map((e) => storedMessage(mx, e.messageId)));
    const ports = new Set(copies.map((c) => c.message.origin.clientPort));
    assert.equal(ports.size, 2, 'expected two reused connections');
    for (const copy of copies) {
      assert.equal(copy.message.origin.protocol, 'SMTP');
      assert.equal(copy.message.origin.helo, 'client.example');
      assert.equal(copy.message.envelope.mailFrom, 'a@example.net');
      const text = copy.rest.toString('latin1');
      assert.match(text, /^From: <a@example\.net>\r\nTo: <rcpt@example\.org>\r\n/);
      assert.ok(copy.rest.length > 5000, `only ${copy.rest.length} octets stored`);
      assert.doesNotMatch(text, /[^\r]\n|\r[^\n]/, 'line endings changed');
      assert.ok(text.endsWith('\r\n'));
    }
  });

  it('old mode without HELO is refused at MAIL (503 5.5.1) and nothing is stored', async () => {
    const before = mx.received.count;
    const r = await run('smtp-source', [
      '-o',
      '-m',
      '1',
      '-f',
      'a@example.net',
      '-t',
      'rcpt@example.org',
      `127.0.0.1:${mx.port}`,
    ]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /503 5\.5\.1 /);
    assert.equal(mx.received.count, before);
  });
});
