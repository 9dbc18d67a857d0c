/**
 * Tests for reply.ts: wire form of single and multi-line replies, control character
 * scrubbing (no reply injection), the 512-octet line limit and programming errors.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatReply, MAX_REPLY_LINE_OCTETS, sanitizeReplyText } from './reply.ts';

describe('formatReply', () => {
  const cases: [string, number, string | undefined, string | readonly string[], string][] = [
    ['single line with enhanced code', 250, '2.0.0', 'OK', '250 2.0.0 OK\r\n'],
    ['single line without enhanced code', 354, undefined, 'End data', '354 End data\r\n'],
    ['multi-line', 250, '2.0.0', ['a', 'b', 'c'], '250-2.0.0 a\r\n250-2.0.0 b\r\n250 2.0.0 c\r\n'],
    [
      'multi-line without enhanced code',
      250,
      undefined,
      ['mx.test', 'PIPELINING'],
      '250-mx.test\r\n250 PIPELINING\r\n',
    ],
    ['empty text keeps code and enhanced', 250, '2.0.0', '', '250 2.0.0\r\n'],
    ['empty array is one line', 221, '2.0.0', [], '221 2.0.0\r\n'],
    ['empty text without enhanced is the bare code', 250, undefined, '', '250\r\n'],
    ['empty continuation line', 250, undefined, ['', 'x'], '250-\r\n250 x\r\n'],
    ['CRLF injection is flattened', 550, '5.1.1', 'bad\r\n250 2.0.0 ok', '550 5.1.1 bad  250 2.0.0 ok\r\n'],
    ['NUL, TAB, DEL and C1 become spaces', 550, '5.1.1', 'a\0b\tc\x7fd\x85e', '550 5.1.1 a b c d e\r\n'],
    ['lone LF in one array line', 451, '4.3.0', ['x\ny', 'z'], '451-4.3.0 x y\r\n451 4.3.0 z\r\n'],
    ['UTF-8 text is kept', 250, '2.1.5', 'ok for üser', '250 2.1.5 ok for üser\r\n'],
  ];
  for (const [name, code, enhanced, text, expected] of cases) {
    it(name, () => assert.equal(formatReply(code, enhanced, text), expected));
  }

  it('cuts lines to 512 octets without splitting a character', () => {
    for (const unit of ['x', 'é', '€', '😀']) {
      for (const enhanced of [undefined, '5.5.2']) {
        const out = formatReply(500, enhanced, [unit.repeat(600), 'end']);
        const [first, second] = out.split('\r\n');
        assert.ok(Buffer.byteLength(`${first}\r\n`) <= MAX_REPLY_LINE_OCTETS, `${unit} ${enhanced}`);
        assert.ok(Buffer.byteLength(`${first}\r\n`) > MAX_REPLY_LINE_OCTETS - 4, 'uses the room it has');
        assert.ok(!first!.includes('\uFFFD'));
        assert.equal(second, `500 ${enhanced === undefined ? '' : `${enhanced} `}end`);
      }
    }
  });

  it('refuses codes and enhanced codes that only a bug could produce', () => {
    for (const code of [0, 99, 199, 600, 250.5, Number.NaN]) {
      assert.throws(() => formatReply(code, undefined, 'x'), RangeError);
    }
    for (const enhanced of ['', '2.0', '3.0.0', '2.0.0\r\n', '2.0.0 ', '2.1000.0', 'x.y.z']) {
      assert.throws(() => formatReply(250, enhanced, 'x'), RangeError, JSON.stringify(enhanced));
    }
  });
});

describe('sanitizeReplyText', () => {
  it('keeps printable text and replaces every control character', () => {
    assert.equal(sanitizeReplyText('plain text ~!'), 'plain text ~!');
    let all = '';
    for (let c = 0; c < 0xa0; c++) all += String.fromCharCode(c);
    const out = sanitizeReplyText(all);
    assert.equal(out.length, all.length);
    assert.doesNotMatch(out, /[\u0000-\u001f\u007f-\u009f]/);
  });
});
