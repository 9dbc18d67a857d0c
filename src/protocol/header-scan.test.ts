import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { scanHeaders } from './header-scan.ts';

const scan = (text: string, limit?: number) => scanHeaders(Buffer.from(text, 'latin1'), limit);

describe('scanHeaders', () => {
  it('ends the header section at the first empty line and never reads the body', () => {
    const text =
      'Subject: hello\r\nFrom: a@example.net\r\n\r\nSubject: not a header\r\nTo: b@example.org\r\n';
    const result = scan(text);
    assert.equal(result.headerBytes, 'Subject: hello\r\nFrom: a@example.net\r\n\r\n'.length);
    assert.deepEqual(result.fields, { subject: 'hello', from: 'a@example.net' });
    assert.equal(result.noHeader, false);
  });

  it('unfolds continuation lines and keeps the first of repeated fields', () => {
    const result = scan('Subject: one\r\n two\r\nSubject: second\r\nTo: x@example.org\r\n\r\nbody\r\n');
    assert.equal(result.fields.subject, 'one two');
    assert.equal(result.fields.to, 'x@example.org');
  });

  it('stops where a line is not a field, without an empty line', () => {
    const result = scan('Subject: s\r\nthis is body text\r\nFrom: late@example.net\r\n');
    assert.equal(result.headerBytes, 'Subject: s\r\n'.length);
    assert.equal(result.fields.from, undefined);
  });

  it('reports a message that has no header section', () => {
    assert.equal(scan('just text\r\n\r\n').noHeader, true);
    assert.equal(scan(' folded first\r\n\r\n').noHeader, true);
    const empty = scan('\r\nbody\r\n');
    assert.equal(empty.headerBytes, 2);
    assert.deepEqual(empty.fields, {});
  });

  it('reads no further than the limit and strips control characters from values', () => {
    const long = `Subject: x\r\nFrom: ${'a'.repeat(100)}\r\n\r\n`;
    const cut = scan(long, 20);
    assert.equal(cut.fields.subject, 'x');
    assert.equal(cut.fields.from, undefined);
    assert.equal(scan('Subject: a\x01b\x7fc\r\n\r\n').fields.subject, 'a b c');
  });

  it('decodes UTF-8 values and shortens very long ones', () => {
    const utf8 = Buffer.concat([
      Buffer.from('Subject: '),
      Buffer.from('grüße', 'utf8'),
      Buffer.from('\r\n\r\n'),
    ]);
    assert.equal(scanHeaders(utf8).fields.subject, 'grüße');
    const long = scan(`Subject: ${'y'.repeat(800)}\r\n\r\n`).fields.subject!;
    assert.equal(long, `${'y'.repeat(500)}...`);
  });
});
