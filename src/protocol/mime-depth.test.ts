import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MAX_MIME_HEADER_BYTES, mayNest, mimeDepth } from './mime-depth.ts';

const crlf = (s: string): Buffer => Buffer.from(s.replace(/\n/g, '\r\n'), 'latin1');

function nested(levels: number): Buffer {
  let body = 'Content-Type: text/plain\n\ninnermost\n';
  for (let i = levels; i >= 1; i--) {
    body = `Content-Type: multipart/mixed; boundary="b${i}"\n\npreamble\n--b${i}\n${body}--b${i}--\n`;
  }
  return crlf(`Subject: deep\n${body}`);
}

describe('MIME nesting depth', () => {
  it('is 0 for a single-part message', () => {
    assert.deepEqual(mimeDepth(crlf('Subject: x\n\nhello\n--not a boundary\n'), 10), {
      depth: 0,
      exceeded: false,
    });
  });

  it('counts multipart/alternative inside multipart/mixed as 2', () => {
    const m = crlf(
      'Content-Type: multipart/mixed; boundary=outer\n\n--outer\nContent-Type: multipart/alternative; boundary="in ner"\n\n--in ner\nContent-Type: text/plain\n\nt\n--in ner\nContent-Type: text/html\n\n<p>h</p>\n--in ner--\n--outer\nContent-Type: application/pdf\n\nJVBER\n--outer--\n',
    );
    assert.deepEqual(mimeDepth(m, 10), { depth: 2, exceeded: false });
  });

  it('counts a forwarded message/rfc822 as a level', () => {
    const m = crlf(
      'Content-Type: multipart/mixed; boundary=o\n\n--o\nContent-Type: message/rfc822\n\nSubject: fwd\nContent-Type: multipart/mixed; boundary=i\n\n--i\n\nx\n--i--\n--o--\n',
    );
    assert.deepEqual(mimeDepth(m, 10), { depth: 3, exceeded: false });
  });

  it('stops at the limit on a deeply nested bomb', () => {
    assert.deepEqual(mimeDepth(nested(40), 50), { depth: 40, exceeded: false });
    const bomb = mimeDepth(nested(5000), 50);
    assert.equal(bomb.exceeded, true);
    assert.equal(bomb.depth, 51);
  });

  it('never throws on random bytes', () => {
    let seed = 7;
    const random = (): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed / 0x7fffffff;
    };
    const pieces = [
      '\r\n',
      '--',
      'b',
      'Content-Type: multipart/mixed; boundary=b',
      '\r\n\r\n',
      'x',
      '--b--',
      'message/rfc822',
    ];
    for (let n = 0; n < 3000; n++) {
      let s = '';
      for (let i = 0; i < 40; i++) s += pieces[Math.floor(random() * pieces.length)];
      const r = mimeDepth(Buffer.from(s, 'latin1'), 20);
      assert.ok(r.depth >= 0 && r.depth <= 21);
    }
  });
});

describe('mayNest (the cheap check before mimeDepth)', () => {
  it('is true only for a multipart or message/* top level in the header section', () => {
    assert.equal(mayNest(nested(3)), true);
    assert.equal(mayNest(crlf('Content-Type: message/rfc822\n\nSubject: x\n\ny\n')), true);
    assert.equal(mayNest(crlf('Subject: x\nContent-Type: text/plain\n\n')), false);
    // The words in the body do not count: mimeDepth would find depth 0 there too.
    const inBody = crlf('Subject: x\n\nContent-Type: multipart/mixed; boundary=b\n\n--b\n\nx\n--b--\n');
    assert.equal(mayNest(inBody), false);
    assert.deepEqual(mimeDepth(inBody, 10), { depth: 0, exceeded: false });
  });

  it('is false where mimeDepth reads no top-level type: empty header, no end, too long', () => {
    assert.equal(mayNest(Buffer.alloc(0)), false);
    assert.equal(mayNest(crlf('\nContent-Type: multipart/mixed; boundary=b\n\n')), false);
    assert.equal(mayNest(crlf('Content-Type: multipart/mixed; boundary=b\n')), false);
    const long = crlf(
      `X-Pad: ${'a'.repeat(MAX_MIME_HEADER_BYTES)}\nContent-Type: multipart/mixed; boundary=b\n\n`,
    );
    assert.equal(mayNest(long), false);
    assert.equal(mimeDepth(long, 10).depth, 0);
  });
});
