// ReplyParser, table-driven: valid replies under any chunking, each protocol error by reason, limits.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { SmtpReply } from '../contracts/status.ts';
import { ReplyParseError, ReplyParser } from './reply-parser.ts';

function parseAll(input: string | Buffer, chunkSize = Number.POSITIVE_INFINITY): SmtpReply[] {
  const bytes = typeof input === 'string' ? Buffer.from(input, 'utf8') : input;
  const parser = new ReplyParser();
  const out: SmtpReply[] = [];
  for (let i = 0; i < bytes.length; i += Math.min(chunkSize, bytes.length)) {
    out.push(...parser.push(bytes.subarray(i, i + chunkSize)));
  }
  assert.equal(parser.pending, false, 'no bytes left over');
  return out;
}

function reasonOf(input: string | Buffer): string {
  const parser = new ReplyParser({ maxLineLength: 64, maxLines: 5 });
  try {
    parser.push(typeof input === 'string' ? Buffer.from(input, 'latin1') : input);
  } catch (error) {
    assert.ok(error instanceof ReplyParseError);
    assert.equal(error.code, 'PROTOCOL');
    return error.reason;
  }
  return 'none';
}

describe('ReplyParser: valid replies', () => {
  const cases: { name: string; input: string; want: SmtpReply[] }[] = [
    { name: 'single line', input: '250 ok\r\n', want: [{ code: 250, text: 'ok' }] },
    { name: 'code only', input: '250\r\n', want: [{ code: 250, text: '' }] },
    { name: 'code and space', input: '354 \r\n', want: [{ code: 354, text: '' }] },
    {
      name: 'enhanced code stripped',
      input: '550 5.1.1 No such user\r\n',
      want: [{ code: 550, enhanced: '5.1.1', text: 'No such user' }],
    },
    {
      name: 'enhanced code alone',
      input: '250 2.0.0\r\n',
      want: [{ code: 250, enhanced: '2.0.0', text: '' }],
    },
    {
      name: 'enhanced class must match the code',
      input: '550 4.1.1 odd\r\n',
      want: [{ code: 550, text: '4.1.1 odd' }],
    },
    {
      name: 'no enhanced with leading zero',
      input: '250 2.01.0 x\r\n',
      want: [{ code: 250, text: '2.01.0 x' }],
    },
    {
      name: 'no enhanced when glued to text',
      input: '250 2.0.0x\r\n',
      want: [{ code: 250, text: '2.0.0x' }],
    },
    {
      name: 'multi-line EHLO',
      input: '250-mx.test hello\r\n250-PIPELINING\r\n250-SIZE 1000\r\n250 8BITMIME\r\n',
      want: [{ code: 250, text: 'mx.test hello\nPIPELINING\nSIZE 1000\n8BITMIME' }],
    },
    {
      name: 'multi-line with repeated enhanced codes',
      input: '550-5.1.1 The account does not exist.\r\n550-5.1.1 Please check.\r\n550 5.1.1 https://x\r\n',
      want: [{ code: 550, enhanced: '5.1.1', text: 'The account does not exist.\nPlease check.\nhttps://x' }],
    },
    {
      name: 'later lines with a different detail keep it',
      input: '550-5.1.1 a\r\n550 5.1.10 b\r\n',
      want: [{ code: 550, enhanced: '5.1.1', text: 'a\n5.1.10 b' }],
    },
    {
      name: 'pipelined replies in one chunk',
      input: '250 2.1.0 ok\r\n250 2.1.5 ok\r\n550 5.1.1 nope\r\n354 go\r\n',
      want: [
        { code: 250, enhanced: '2.1.0', text: 'ok' },
        { code: 250, enhanced: '2.1.5', text: 'ok' },
        { code: 550, enhanced: '5.1.1', text: 'nope' },
        { code: 354, text: 'go' },
      ],
    },
    { name: 'tab in text', input: '250 a\tb\r\n', want: [{ code: 250, text: 'a\tb' }] },
    { name: 'utf-8 text', input: '250 grüß dich\r\n', want: [{ code: 250, text: 'grüß dich' }] },
    { name: 'empty continuation', input: '250-\r\n250 x\r\n', want: [{ code: 250, text: '\nx' }] },
  ];
  for (const c of cases) {
    it(c.name, () => {
      assert.deepEqual(parseAll(c.input), c.want);
      assert.deepEqual(parseAll(c.input, 1), c.want, 'byte by byte');
      assert.deepEqual(parseAll(c.input, 3), c.want, '3-byte chunks');
    });
  }

  it('keeps a partial reply until its last line arrives', () => {
    const parser = new ReplyParser();
    assert.deepEqual(parser.push(Buffer.from('250-a\r\n250')), []);
    assert.equal(parser.pending, true);
    assert.deepEqual(parser.push(Buffer.from(' b\r')), []);
    assert.deepEqual(parser.push(Buffer.from('\n')), [{ code: 250, text: 'a\nb' }]);
    assert.equal(parser.pending, false);
  });

  it('does not keep a reference to the caller buffer', () => {
    const parser = new ReplyParser();
    const chunk = Buffer.from('250 ab');
    parser.push(chunk);
    chunk.fill(0x41);
    assert.deepEqual(parser.push(Buffer.from('c\r\n')), [{ code: 250, text: 'abc' }]);
  });

  it('accepts a line of exactly the limit and decodes invalid UTF-8 as U+FFFD', () => {
    const parser = new ReplyParser({ maxLineLength: 10 });
    assert.deepEqual(parser.push(Buffer.from('250 abcdef\r\n')), [{ code: 250, text: 'abcdef' }]);
    assert.deepEqual(parser.push(Buffer.from([0x32, 0x35, 0x30, 0x20, 0xff, 0x0d, 0x0a])), [
      { code: 250, text: '\ufffd' },
    ]);
  });
});

describe('ReplyParser: protocol errors', () => {
  const cases: [string, string, string][] = [
    ['bare LF', '250 ok\n', 'bare-lf'],
    ['bare LF as the only byte', '\n', 'bare-lf'],
    ['bare CR inside the text', '250 o\rk\r\n', 'bare-cr'],
    ['CR CR LF', '250 ok\r\r\n', 'bare-cr'],
    ['code out of range', '199 x\r\n', 'bad-code'],
    ['second digit out of range', '260 x\r\n', 'bad-code'],
    ['letters', 'abc\r\n', 'bad-code'],
    ['short', '25\r\n', 'bad-code'],
    ['empty line', '\r\n', 'bad-code'],
    ['bad separator', '250:ok\r\n', 'bad-separator'],
    ['code changes', '250-a\r\n251 b\r\n', 'code-mismatch'],
    ['NUL in text', '250 a\0b\r\n', 'control-char'],
    ['ESC in text', '250 a\x1bb\r\n', 'control-char'],
    ['DEL in text', '250 a\x7f\r\n', 'control-char'],
    ['line too long', `250 ${'x'.repeat(61)}\r\n`, 'line-too-long'],
    ['unterminated line too long', `250 ${'x'.repeat(70)}`, 'line-too-long'],
    ['too many lines', `${'250-a\r\n'.repeat(5)}250 b\r\n`, 'too-many-lines'],
  ];
  for (const [name, input, reason] of cases) {
    it(name, () => assert.equal(reasonOf(input), reason));
  }

  it('accepts the limits themselves', () => {
    assert.equal(reasonOf(`250 ${'x'.repeat(60)}\r\n`), 'none');
    assert.equal(reasonOf(`${'250-a\r\n'.repeat(4)}250 b\r\n`), 'none');
  });

  it('stays poisoned after an error', () => {
    const parser = new ReplyParser();
    assert.throws(() => parser.push(Buffer.from('250 a\n')), ReplyParseError);
    assert.throws(() => parser.push(Buffer.from('250 ok\r\n')), { reason: 'bare-lf' });
  });

  it('returns nothing from a chunk that fails, even if earlier replies in it were complete', () => {
    const parser = new ReplyParser();
    assert.throws(() => parser.push(Buffer.from('250 ok\r\n250 x\n')), { reason: 'bare-lf' });
  });
});
