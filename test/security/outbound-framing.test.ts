/**
 * Outbound smuggling: even when a listener normalizes sloppy line endings, nothing a
 * client wrote can end a DATA section early at the next hop. Each of the 13
 * end-of-data variants, followed by a complete smuggled transaction, is submitted
 * and delivered to a sink that records the bytes exactly as they crossed the wire:
 * every byte mxpress sends is CRLF-canonical and dot-stuffed, one message arrives per
 * accepted submission, and the smuggled envelope never reaches the sink.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Config } from '../../src/config/types.ts';
import { type DeliveryLab, startDeliveryLab } from '../harness/delivery-lab.ts';
import { rawSession } from '../harness/raw-session.ts';
import { END_OF_DATA_VARIANTS } from '../harness/smuggling-variants.ts';

const SMUGGLED =
  'MAIL FROM:<evil@attacker.example>\r\nRCPT TO:<victim@d2.test>\r\nDATA\r\nSubject: smuggled\r\n\r\nsmuggled\r\n.\r\n';

/** No CR without LF after it, no LF without CR before it. */
function crlfCanonical(bytes: Buffer): boolean {
  for (let i = 0; i < bytes.length; i++) {
    if (bytes[i] === 0x0d && bytes[i + 1] !== 0x0a) return false;
    if (bytes[i] === 0x0a && bytes[i - 1] !== 0x0d) return false;
  }
  return true;
}

describe('outbound framing under lineEndings=normalize', () => {
  let lab: DeliveryLab;
  before(async () => {
    lab = await startDeliveryLab({
      mutate: (c: Config): Config => ({ ...c, smtp: { ...c.smtp, lineEndings: 'normalize' } }),
    });
  });
  after(async () => {
    await lab.close();
  });

  for (const [name, variant] of END_OF_DATA_VARIANTS) {
    it(name, async () => {
      const s = await rawSession(lab.server.port);
      let reply: string;
      try {
        await s.expect(220);
        await s.command('EHLO app.example', 250);
        await s.command('MAIL FROM:<sender@dump.test>', 250);
        await s.command('RCPT TO:<legit@d1.test>', 250);
        await s.command('DATA', 354);
        s.send(
          Buffer.from(
            `Subject: ${name}\r\n\r\n..first line starts with a dot${variant}${SMUGGLED}`,
            'latin1',
          ),
        );
        reply = (await s.reply())!.lines.join(' ');
      } finally {
        s.close();
      }
      if (name.startsWith('NUL')) {
        assert.match(reply, /^554 5\.6\.0 /, 'a NUL in the data must be refused');
        return;
      }
      const id = /queued as ([0-9A-Z]{26})/.exec(reply)?.[1];
      assert.ok(id, `not accepted: ${reply}`);
      await lab.waitForEvent((e) => e.type === 'delivered' && e.messageId === id);
      const arrived = lab.sinks.ok.messages.filter((m) => m.body.includes(`id ${id}`));
      assert.equal(arrived.length, 1, 'one submission must arrive as exactly one message');
      const message = arrived[0]!;
      assert.deepEqual(message.rcptTo, ['legit@d1.test']);
      assert.ok(crlfCanonical(message.raw), 'a bare CR or LF crossed the wire');
      // Dot-stuffing: the raw stream has every line that starts with "." doubled, and no lone "." line.
      const rawLines = message.raw.toString('latin1').split('\r\n');
      assert.ok(!rawLines.slice(0, -1).includes('.'), 'a lone "." line was sent before the end of the data');
      assert.ok(rawLines.includes('..first line starts with a dot'), 'a leading dot was not stuffed');
      assert.ok(
        !lab.sinks.ok.transcript().some((l) => l.includes('evil@attacker.example')),
        'the smuggled MAIL reached the sink',
      );
    });
  }
});
