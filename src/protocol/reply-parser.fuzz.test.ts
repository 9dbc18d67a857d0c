// Seeded fuzzing of ReplyParser: random valid replies must round-trip under any chunking;
// random and mutated bytes must only ever produce well-formed replies or a ReplyParseError.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { seededRandom } from '../../test/harness/prng.ts';
import type { SmtpReply } from '../contracts/status.ts';
import { ReplyParseError, ReplyParser } from './reply-parser.ts';

const TEXT_CHARS = 'abcXYZ019 .-:<>@=+\t\u00e9\u4e2d';

function randomReply(rand: () => number): { wire: string; reply: SmtpReply } {
  const int = (n: number) => Math.floor(rand() * n);
  const code = (2 + int(4)) * 100 + int(6) * 10 + int(10);
  // RFC 3463 classes are 2, 4 and 5 only; a 3yz reply never carries an enhanced code.
  const withEnhanced = Math.floor(code / 100) !== 3 && rand() < 0.5;
  const enhanced = withEnhanced ? `${Math.floor(code / 100)}.${int(8)}.${int(30)}` : undefined;
  const lineCount = 1 + (rand() < 0.3 ? int(8) : 0);
  const lines: string[] = [];
  for (let i = 0; i < lineCount; i++) {
    let text = '';
    const len = int(40);
    for (let j = 0; j < len; j++) text += TEXT_CHARS[int(TEXT_CHARS.length)];
    // Text must not itself look like an enhanced code, or the expectation would be ambiguous.
    if (/^\d/.test(text)) text = `x${text}`;
    lines.push(text);
  }
  const wire = lines
    .map((text, i) => {
      const sep = i === lines.length - 1 ? ' ' : '-';
      const body = enhanced === undefined ? text : text === '' ? enhanced : `${enhanced} ${text}`;
      return `${code}${sep}${body}\r\n`;
    })
    .join('');
  const reply: SmtpReply =
    enhanced === undefined ? { code, text: lines.join('\n') } : { code, enhanced, text: lines.join('\n') };
  return { wire, reply };
}

function chunked(bytes: Buffer, rand: () => number): Buffer[] {
  const chunks: Buffer[] = [];
  let i = 0;
  while (i < bytes.length) {
    const size = 1 + Math.floor(rand() * (rand() < 0.5 ? 4 : 200));
    chunks.push(bytes.subarray(i, i + size));
    i += size;
  }
  return chunks;
}

function assertWellFormed(reply: SmtpReply): void {
  assert.ok(Number.isInteger(reply.code) && reply.code >= 200 && reply.code <= 559);
  assert.ok(!/[\r\0-\x08\x0b-\x1f\x7f]/.test(reply.text), 'no control characters but TAB and the joining LF');
  if (reply.enhanced !== undefined) {
    assert.match(reply.enhanced, /^[245]\.\d{1,3}\.\d{1,3}$/);
    assert.equal(reply.enhanced[0], String(reply.code)[0]);
  }
}

/** Feeds chunks; returns the replies and the error reason, if any. */
function run(chunks: Buffer[]): { replies: SmtpReply[]; reason?: string } {
  const parser = new ReplyParser({ maxLineLength: 512, maxLines: 20 });
  const replies: SmtpReply[] = [];
  for (const chunk of chunks) {
    try {
      replies.push(...parser.push(chunk));
    } catch (error) {
      if (!(error instanceof ReplyParseError)) throw error;
      return { replies, reason: error.reason };
    }
  }
  return { replies };
}

describe('ReplyParser fuzz (seeded)', () => {
  it('round-trips 5,000 random reply sequences under random chunking', () => {
    const rand = seededRandom(0x5eed);
    for (let round = 0; round < 5000; round++) {
      const items = Array.from({ length: 1 + Math.floor(rand() * 4) }, () => randomReply(rand));
      const bytes = Buffer.from(items.map((item) => item.wire).join(''), 'utf8');
      const result = run(chunked(bytes, rand));
      assert.equal(result.reason, undefined, `round ${round}: ${JSON.stringify(bytes.toString())}`);
      assert.deepEqual(
        result.replies,
        items.map((item) => item.reply),
        `round ${round}`,
      );
    }
  });

  it('never throws anything but ReplyParseError on 20,000 mutated inputs, and is chunking-independent', () => {
    const rand = seededRandom(0xbadc0de);
    const specials = [0x0d, 0x0a, 0x00, 0x2d, 0x20, 0x32, 0x35, 0x7f, 0xff, 0x2e];
    for (let round = 0; round < 20000; round++) {
      const base = Buffer.from(
        Array.from({ length: 1 + Math.floor(rand() * 3) }, () => randomReply(rand).wire).join(''),
        'utf8',
      );
      const bytes = Buffer.from(base);
      const flips = 1 + Math.floor(rand() * 3);
      for (let f = 0; f < flips; f++) {
        const at = Math.floor(rand() * bytes.length);
        bytes[at] = rand() < 0.7 ? specials[Math.floor(rand() * specials.length)]! : Math.floor(rand() * 256);
      }
      const whole = run([bytes]);
      const pieces = run(chunked(bytes, rand));
      for (const reply of pieces.replies) assertWellFormed(reply);
      // Same verdict whatever the chunking; chunked may surface replies completed before the error.
      assert.equal(pieces.reason, whole.reason, `round ${round}`);
      if (whole.reason === undefined) assert.deepEqual(pieces.replies, whole.replies);
      else assert.deepEqual(pieces.replies.slice(0, whole.replies.length), whole.replies);
    }
  });

  it('survives 20,000 purely random byte strings', () => {
    const rand = seededRandom(42);
    for (let round = 0; round < 20000; round++) {
      const bytes = Buffer.alloc(1 + Math.floor(rand() * 64));
      for (let i = 0; i < bytes.length; i++) bytes[i] = Math.floor(rand() * 256);
      const result = run(chunked(bytes, rand));
      for (const reply of result.replies) assertWellFormed(reply);
    }
  });
});
