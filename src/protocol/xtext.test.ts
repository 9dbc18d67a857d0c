/**
 * Tests for xtext.ts (RFC 3461 4.2): decoding of valid and malformed xtext, control
 * characters hidden behind "+HH", UTF-8 octets, and the encode/decode round trip.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeXtext, encodeXtext } from './xtext.ts';

describe('decodeXtext', () => {
  const valid: [string, string][] = [
    ['', ''],
    ['abc', 'abc'],
    ['x+2By', 'x+y'],
    ['a+3Db', 'a=b'],
    ['+20', ' '],
    ['<>', '<>'],
    ['user+40example.org', 'user@example.org'],
    ['+41+42', 'AB'],
    ['caf+C3+A9', 'café'],
    ['!~*', '!~*'],
  ];
  for (const [input, expected] of valid) {
    it(`decodes ${JSON.stringify(input)}`, () => assert.equal(decodeXtext(input), expected));
  }
  const invalid: [string, string][] = [
    ['a+2b', 'lower-case hex'],
    ['a+2', 'one hex digit'],
    ['a+', 'lone plus'],
    ['a+G0', 'not hex'],
    ['a=b', 'raw equals'],
    ['a b', 'space'],
    ['a\tb', 'tab'],
    ['é', 'raw non-ASCII'],
    ['a+0D+0Ab', 'encoded CRLF'],
    ['+00', 'encoded NUL'],
    ['+7F', 'encoded DEL'],
    ['+1B', 'encoded ESC'],
    ['+C2+85', 'encoded C1 control (NEL)'],
    ['+C3', 'truncated UTF-8'],
    ['+FF', 'invalid UTF-8'],
    ['+ED+A0+80', 'UTF-8 surrogate'],
    ['\r\n', 'raw CRLF'],
  ];
  for (const [input, why] of invalid) {
    it(`refuses ${why}`, () => assert.equal(decodeXtext(input), null));
  }
});

describe('encodeXtext', () => {
  const cases: [string, string][] = [
    ['abc', 'abc'],
    ['a+b', 'a+2Bb'],
    ['a=b', 'a+3Db'],
    ['a b', 'a+20b'],
    ['café', 'caf+C3+A9'],
    ['\r\n', '+0D+0A'],
  ];
  for (const [input, expected] of cases) {
    it(`encodes ${JSON.stringify(input)}`, () => assert.equal(encodeXtext(input), expected));
  }

  it('round-trips every printable ASCII character and some UTF-8', () => {
    let all = '';
    for (let c = 0x20; c < 0x7f; c++) all += String.fromCharCode(c);
    for (const text of [all, 'üñíçødé 😀', 'a+b=c']) {
      const encoded = encodeXtext(text);
      assert.match(encoded, /^[!-<>-~]*$/);
      assert.equal(decodeXtext(encoded), text);
    }
  });
});
