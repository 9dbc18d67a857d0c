// DotStuffer: table of stuffing and line-ending cases, chunk boundaries, and a seeded property test
// (no bare CR/LF out, unstuffing gives the canonical body, CRLF.CRLF only at the end); and the
// fast path unchangedDataEnd, which must say "unchanged" exactly when stuffing changes nothing.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { seededRandom } from '../../test/harness/prng.ts';
import { DotStuffer, dotStuff, unchangedDataEnd } from './dot-stuffer.ts';

function stuffChunked(body: Buffer, sizes: () => number): Buffer {
  const stuffer = new DotStuffer();
  const out: Buffer[] = [];
  for (let i = 0; i < body.length; ) {
    const size = sizes();
    out.push(stuffer.push(body.subarray(i, i + size)));
    i += size;
  }
  out.push(stuffer.end());
  return Buffer.concat(out);
}

/** What the receiver should store: every CR, LF or CRLF is one CRLF; a non-empty body ends in CRLF. */
function canonical(body: Buffer): Buffer {
  let text = body.toString('latin1').replace(/\r\n|\r|\n/g, '\r\n');
  if (text.length > 0 && !text.endsWith('\r\n')) text += '\r\n';
  return Buffer.from(text, 'latin1');
}

/** The receiver's side (RFC 5321 4.5.2): strip the terminator, then one leading dot per line. */
function unstuff(stream: Buffer): Buffer {
  const text = stream.toString('latin1');
  assert.ok(text.endsWith('.\r\n'));
  const content = text.slice(0, -3);
  return Buffer.from(content.replace(/(^|\r\n)\./g, '$1'), 'latin1');
}

function hasBareCrOrLf(bytes: Buffer): boolean {
  for (let i = 0; i < bytes.length; i++) {
    if (bytes[i] === 0x0d && bytes[i + 1] !== 0x0a) return true;
    if (bytes[i] === 0x0a && bytes[i - 1] !== 0x0d) return true;
  }
  return false;
}

describe('DotStuffer', () => {
  const cases: [string, string, string][] = [
    ['empty body', '', '.\r\n'],
    ['canonical body', 'a\r\nb\r\n', 'a\r\nb\r\n.\r\n'],
    ['missing final CRLF', 'a\r\nb', 'a\r\nb\r\n.\r\n'],
    ['leading dot on first line', '.hidden\r\n', '..hidden\r\n.\r\n'],
    ['lone dot line', 'a\r\n.\r\nb\r\n', 'a\r\n..\r\nb\r\n.\r\n'],
    ['two dots', '..\r\n', '...\r\n.\r\n'],
    ['dot not at line start', 'a.b\r\n', 'a.b\r\n.\r\n'],
    ['bare LF', 'a\nb\n', 'a\r\nb\r\n.\r\n'],
    ['bare CR', 'a\rb\r', 'a\r\nb\r\n.\r\n'],
    ['CR CR LF is two line ends', 'a\r\r\nb', 'a\r\n\r\nb\r\n.\r\n'],
    ['LF CR is two line ends', 'a\n\rb', 'a\r\n\r\nb\r\n.\r\n'],
    ['smuggling attempt with bare LF', 'x\n.\nMAIL FROM:<a@b>\n', 'x\r\n..\r\nMAIL FROM:<a@b>\r\n.\r\n'],
    ['smuggling attempt with bare CR', 'x\r.\rDATA\r', 'x\r\n..\r\nDATA\r\n.\r\n'],
    ['dot after bare LF', '\n.', '\r\n..\r\n.\r\n'],
    ['only a dot', '.', '..\r\n.\r\n'],
  ];
  for (const [name, input, want] of cases) {
    it(name, () => {
      const body = Buffer.from(input, 'latin1');
      assert.equal(dotStuff(body).toString('latin1'), want);
      assert.equal(stuffChunked(body, () => 1).toString('latin1'), want, 'byte by byte');
      assert.equal(stuffChunked(body, () => 2).toString('latin1'), want, '2-byte chunks');
    });
  }

  it('handles a CRLF split across chunks, and an empty chunk between them', () => {
    const stuffer = new DotStuffer();
    const out = Buffer.concat([
      stuffer.push(Buffer.from('a\r')),
      stuffer.push(Buffer.alloc(0)),
      stuffer.push(Buffer.from('\n.b\r')),
      stuffer.end(),
    ]);
    assert.equal(out.toString('latin1'), 'a\r\n..b\r\n.\r\n');
  });

  it('refuses use after end', () => {
    const stuffer = new DotStuffer();
    stuffer.end();
    assert.throws(() => stuffer.push(Buffer.from('x')));
    assert.throws(() => stuffer.end());
  });

  it('property: 3,000 random bodies and chunkings (seeded)', () => {
    const rand = seededRandom(20240601);
    const alphabet = [0x0d, 0x0a, 0x2e, 0x2e, 0x41, 0x20, 0x00, 0xff];
    for (let round = 0; round < 3000; round++) {
      const body = Buffer.alloc(Math.floor(rand() * 120));
      for (let i = 0; i < body.length; i++) body[i] = alphabet[Math.floor(rand() * alphabet.length)]!;
      const maxChunk = 1 + Math.floor(rand() * 10);
      const stream = stuffChunked(body, () => 1 + Math.floor(rand() * maxChunk));
      const label = `round ${round}: ${JSON.stringify(body.toString('latin1'))}`;
      assert.deepEqual(stream, dotStuff(body), `chunking-independent, ${label}`);
      assert.equal(hasBareCrOrLf(stream), false, `no bare CR/LF, ${label}`);
      assert.deepEqual(unstuff(stream), canonical(body), `unstuffs to the canonical body, ${label}`);
      const terminator = Buffer.from('\r\n.\r\n', 'latin1');
      const first = stream.indexOf(terminator);
      if (body.length === 0) assert.equal(stream.toString('latin1'), '.\r\n');
      else assert.equal(first, stream.length - 5, `only terminator is the last 5 bytes, ${label}`);
    }
  });

  it('stays linear on a large body', () => {
    const body = Buffer.from('.line of text\r\n'.repeat(200_000), 'latin1');
    const started = performance.now();
    const stream = stuffChunked(body, () => 65536);
    const elapsed = performance.now() - started;
    assert.equal(stream.length, body.length + 200_000 + 3);
    assert.ok(elapsed < 2000, `took ${elapsed} ms for 3 MB`);
  });
});

describe('unchangedDataEnd', () => {
  const cases: [string, string | undefined][] = [
    ['', '.\r\n'],
    ['a\r\n', '.\r\n'],
    ['Subject: x\r\n\r\nbody\r\n', '.\r\n'],
    ['no final line end', '\r\n.\r\n'],
    ['a\r\nb', '\r\n.\r\n'],
    ['.leading dot\r\n', undefined],
    ['a\r\n.b\r\n', undefined],
    ['a\r\n.\r\n', undefined],
    ['bare\nLF\r\n', undefined],
    ['bare\rCR\r\n', undefined],
    ['ends with CR\r', undefined],
    ['a.b\r\nc. d\r\n', '.\r\n'],
  ];
  for (const [body, end] of cases) {
    it(`${JSON.stringify(body)} -> ${end === undefined ? 'needs the stuffer' : JSON.stringify(end)}`, () => {
      const result = unchangedDataEnd(Buffer.from(body, 'latin1'));
      assert.equal(result?.toString('latin1'), end);
    });
  }

  it('gives the same bytes as the stuffer whenever it says unchanged, and says so whenever it could (seeded)', () => {
    const random = seededRandom(20261207);
    const alphabet = ['a', 'b', '.', ' ', '\r\n', '\r\n', '\r', '\n', 'abcdefgh', 'abcdefghijklmnop', '\t'];
    let unchanged = 0;
    for (let n = 0; n < 20_000; n++) {
      const parts: string[] = [];
      // Short bodies, and long ones that the four-bytes-at-a-time path reads.
      const length = Math.floor(random() * (n % 2 === 0 ? 12 : 120));
      for (let i = 0; i < length; i++) parts.push(alphabet[Math.floor(random() * alphabet.length)]!);
      // At every alignment of the underlying buffer.
      const text = parts.join('');
      const shift = n % 4;
      const body = Buffer.from(`${'x'.repeat(shift)}${text}`, 'latin1').subarray(shift);
      const stuffed = dotStuff(body);
      const end = unchangedDataEnd(body);
      if (end !== undefined) {
        unchanged++;
        assert.deepEqual(
          Buffer.concat([body, end]),
          stuffed,
          `body ${JSON.stringify(body.toString('latin1'))}`,
        );
      } else {
        // The stuffer changed something: its output is not the body plus a terminator.
        const terminator = body.length === 0 || body.at(-1) === 0x0a ? '.\r\n' : '\r\n.\r\n';
        const asIs = Buffer.concat([body, Buffer.from(terminator, 'latin1')]);
        assert.ok(!stuffed.equals(asIs), `body ${JSON.stringify(body.toString('latin1'))} needed no change`);
      }
    }
    assert.ok(unchanged > 1000, `only ${unchanged} bodies went the fast way`);
  });
});
