/**
 * Tests for data-decoder.ts: the DATA terminator (only literal CRLF "." CRLF), the 13
 * SMTP smuggling end-of-data variants in both policies and several chunkings, dot
 * unstuffing, line-ending normalization, limits, and buffer ownership.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  DataDecoder,
  type DataDecoderOptions,
  type DataViolation,
  type LineEndingPolicy,
} from './data-decoder.ts';

const LIMITS = { maxBytes: 1_000_000, maxLineLength: 998, maxHeaderBytes: 100_000 };

interface Fed {
  readonly decoder: DataDecoder;
  /** Bytes of input consumed in total. */
  readonly consumed: number;
  readonly body: string;
  /** Input offset (exclusive) of the chunk during which `done` first became true, or -1. */
  readonly doneAfter: number;
}

/** Feeds `input` in `size`-byte chunks (0 = whole), stopping once done or fatal. */
function feed(
  input: Buffer,
  size: number,
  options: Partial<DataDecoderOptions> & { policy: LineEndingPolicy },
): Fed {
  const decoder = new DataDecoder({ ...LIMITS, ...options });
  const step = size === 0 ? input.length : size;
  let consumed = 0;
  let doneAfter = -1;
  const out: Buffer[] = [];
  for (let offset = 0; offset < input.length; offset += step) {
    const chunk = input.subarray(offset, offset + step);
    const used = decoder.push(chunk);
    assert.ok(used >= 0 && used <= chunk.length);
    consumed += used;
    out.push(...decoder.takeChunks());
    if (decoder.done) {
      doneAfter = offset + chunk.length;
      break;
    }
    assert.equal(used, chunk.length, 'a chunk is consumed whole until the terminator');
    if (decoder.fatal) break;
  }
  return { decoder, consumed, body: Buffer.concat(out).toString('latin1'), doneAfter };
}

const CHUNKINGS = [0, 1, 3, 17];
const PREFIX = 'Subject: x\r\n\r\nbody';
const SMUGGLED = 'MAIL FROM:<x@y>\r\nRCPT TO:<z@w>\r\nDATA\r\nsmuggled\r\n.\r\n';
const SMUGGLED_BODY = 'MAIL FROM:<x@y>\r\nRCPT TO:<z@w>\r\nDATA\r\nsmuggled\r\n';
const NEXT = 'QUIT\r\n';

// [variant, violation under 'reject', body under 'normalize' between PREFIX and SMUGGLED_BODY (null: discarded)]
const SMUGGLING: [string, DataViolation, string | null][] = [
  ['\n.\n', 'bare-lf', '\r\n.\r\n'],
  ['\n.\r\n', 'bare-lf', '\r\n.\r\n'],
  ['\r\n.\n', 'bare-lf', '\r\n.\r\n'],
  ['\r.\r', 'bare-cr', '\r\n.\r\n'],
  ['\r.\n', 'bare-cr', '\r\n.\r\n'],
  ['\n.\r', 'bare-lf', '\r\n.\r\n'],
  ['\r.\r\n', 'bare-cr', '\r\n.\r\n'],
  ['\r\n.\r', 'bare-cr', '\r\n.\r\n'],
  ['\r\n.\r\r\n', 'bare-cr', '\r\n.\r\n\r\n'],
  ['\r\r\n.\r\r\n', 'bare-cr', '\r\n\r\n.\r\n\r\n'],
  ['\r\n\0.\r\n', 'nul', null],
  ['\r\n.\0\r\n', 'nul', null],
  ['\n..\r\n', 'bare-lf', '\r\n.\r\n'],
];

describe('DataDecoder: smuggling end-of-data variants', () => {
  assert.equal(SMUGGLING.length, 13);
  for (const [variant, rejectViolation, normalized] of SMUGGLING) {
    const input = Buffer.from(PREFIX + variant + SMUGGLED + NEXT, 'latin1');
    const realEnd = input.length - NEXT.length;
    for (const size of CHUNKINGS) {
      it(`${JSON.stringify(variant)} reject, chunks of ${size || 'all'}`, () => {
        const { decoder, doneAfter, consumed } = feed(input, size, { policy: 'reject' });
        assert.equal(decoder.violation, rejectViolation);
        if (rejectViolation === 'nul') {
          assert.equal(decoder.fatal, false);
          assert.equal(decoder.done, true);
          assert.equal(consumed, realEnd, 'only the real terminator ends DATA');
          assert.ok(doneAfter >= realEnd);
        } else {
          assert.equal(decoder.fatal, true);
          assert.equal(decoder.done, false, 'no terminator recognised');
        }
      });
      it(`${JSON.stringify(variant)} normalize, chunks of ${size || 'all'}`, () => {
        const { decoder, doneAfter, consumed, body } = feed(input, size, { policy: 'normalize' });
        assert.equal(decoder.fatal, false);
        assert.equal(decoder.done, true);
        assert.equal(consumed, realEnd, 'only the real terminator ends DATA');
        assert.ok(doneAfter >= realEnd, 'not done before the real terminator arrived');
        if (normalized === null) {
          assert.equal(decoder.violation, 'nul');
          // Chunks taken before the NUL arrived are legitimate; nothing after it is produced.
          assert.ok(`${PREFIX}\r\n`.startsWith(body), JSON.stringify(body));
        } else {
          assert.equal(decoder.violation, undefined);
          assert.equal(
            body,
            PREFIX + normalized + SMUGGLED_BODY,
            'the smuggled commands are message content',
          );
          assert.equal(decoder.size, body.length);
        }
      });
    }
  }
});

describe('DataDecoder: framing and unstuffing', () => {
  const cases: [string, string, string, number?][] = [
    ['empty message: terminator as the first line', '.\r\n', ''],
    ['one line', 'hello\r\n.\r\n', 'hello\r\n'],
    ['empty lines kept', '\r\n\r\nx\r\n\r\n.\r\n', '\r\n\r\nx\r\n\r\n'],
    ['stuffed dot', '..\r\n.\r\n', '.\r\n'],
    ['stuffed dots mid-message', 'a\r\n..b\r\n...\r\n.\r\n', 'a\r\n.b\r\n..\r\n'],
    ['unstuffed leading dot is removed (RFC 5321 4.5.2)', '.x\r\n.\r\n', 'x\r\n'],
    ['dot inside a line is content', 'a.b\r\n a\r\n.\r\n', 'a.b\r\n a\r\n'],
    ['dot-space line is not a terminator', '. \r\n.\r\n', ' \r\n'],
    ['pipelined command after the terminator', 'x\r\n.\r\nMAIL FROM:<a@b>\r\n', 'x\r\n', 6],
    ['terminator without trailing data', 'x\r\n.\r\n', 'x\r\n', 6],
  ];
  for (const [name, input, expected, consumed] of cases) {
    for (const policy of ['reject', 'normalize'] as const) {
      for (const size of CHUNKINGS) {
        it(`${name} (${policy}, ${size || 'all'})`, () => {
          const buffer = Buffer.from(input, 'latin1');
          const fed = feed(buffer, size, { policy });
          assert.equal(fed.decoder.violation, undefined);
          assert.equal(fed.decoder.done, true);
          assert.equal(fed.body, expected);
          assert.equal(fed.decoder.size, expected.length);
          assert.equal(fed.consumed, consumed ?? buffer.length);
        });
      }
    }
  }

  it('finds the terminator split at every position between two chunks', () => {
    const input = Buffer.from('line one\r\n..two\r\n.\r\nNOOP\r\n');
    for (let cut = 0; cut <= input.length; cut++) {
      const decoder = new DataDecoder({ ...LIMITS, policy: 'reject' });
      let consumed = decoder.push(input.subarray(0, cut));
      if (!decoder.done) consumed += decoder.push(input.subarray(cut));
      assert.equal(decoder.done, true, `cut ${cut}`);
      assert.equal(consumed, input.length - 6, `cut ${cut}`);
      assert.equal(Buffer.concat(decoder.takeChunks()).toString(), 'line one\r\n.two\r\n', `cut ${cut}`);
    }
  });

  it('consumes nothing once done', () => {
    const decoder = new DataDecoder({ ...LIMITS, policy: 'reject' });
    assert.equal(decoder.push(Buffer.from('.\r\n')), 3);
    assert.equal(decoder.push(Buffer.from('more\r\n.\r\n')), 0);
    assert.deepEqual(decoder.takeChunks(), []);
  });

  it('normalizes bare LF and CR line endings under normalize', () => {
    const fed = feed(Buffer.from('a: b\nc: d\r\n\nbody\rmore\n.\r\n'), 0, { policy: 'normalize' });
    assert.equal(fed.body, 'a: b\r\nc: d\r\n\r\nbody\r\nmore\r\n.\r\n');
    assert.equal(fed.decoder.done, false, 'bare LF before the dot: not a terminator');
  });
});

describe('DataDecoder: violations', () => {
  function run(
    input: string,
    options: Partial<DataDecoderOptions> = {},
    policy: LineEndingPolicy = 'reject',
  ) {
    const results = CHUNKINGS.map((size) => feed(Buffer.from(input, 'latin1'), size, { policy, ...options }));
    for (const r of results.slice(1)) {
      assert.equal(r.decoder.violation, results[0]!.decoder.violation, 'same violation for any chunking');
      assert.equal(r.decoder.size, results[0]!.decoder.size, 'same size for any chunking');
      assert.equal(r.decoder.done, results[0]!.decoder.done);
    }
    return results[0]!;
  }

  it('NUL is non-fatal: reading continues to the real terminator, nothing is kept', () => {
    const r = run('a\0b\r\n.x\r\n.\r\nNOOP\r\n');
    assert.equal(r.decoder.violation, 'nul');
    assert.equal(r.decoder.fatal, false);
    assert.equal(r.decoder.done, true);
    assert.equal(r.consumed, 12);
    assert.equal(r.body, '');
    assert.equal(r.decoder.size, 8);
  });

  it('a bare CR/LF after a non-fatal violation is still fatal under reject and is reported', () => {
    const r = run('a\0b\r\nx\ny\r\n.\r\n');
    assert.equal(r.decoder.fatal, true);
    assert.equal(r.decoder.violation, 'bare-lf');
  });

  it('a fatal violation swallows the whole chunk and everything after it', () => {
    const decoder = new DataDecoder({ ...LIMITS, policy: 'reject' });
    const chunk = Buffer.from('a\nb\r\n.\r\nQUIT\r\n');
    assert.equal(decoder.push(chunk), chunk.length);
    assert.equal(decoder.fatal, true);
    assert.equal(decoder.done, false);
    assert.equal(decoder.push(Buffer.from('.\r\n')), 3);
    assert.equal(decoder.done, false);
    assert.deepEqual(decoder.takeChunks(), []);
  });

  it('line length: the limit is allowed, one more octet is not (a stuffing dot counts)', () => {
    assert.equal(run(`${'x'.repeat(10)}\r\n.\r\n`, { maxLineLength: 10 }).decoder.violation, undefined);
    assert.equal(run(`${'x'.repeat(11)}\r\n.\r\n`, { maxLineLength: 10 }).decoder.violation, 'line-too-long');
    assert.equal(
      run(`.${'x'.repeat(10)}\r\n.\r\n`, { maxLineLength: 10 }).decoder.violation,
      'line-too-long',
    );
    const r = run(`${'x'.repeat(11)}\r\nok\r\n.\r\nNOOP`, { maxLineLength: 10 });
    assert.equal(r.decoder.done, true);
    assert.equal(r.consumed, 20);
  });

  it('message size: the limit is allowed, one more octet is not, and size keeps counting', () => {
    assert.equal(run('12345678\r\n.\r\n', { maxBytes: 10 }).decoder.violation, undefined);
    const r = run('123456789\r\nabc\r\n.\r\n', { maxBytes: 10 });
    assert.equal(r.decoder.violation, 'too-big');
    assert.equal(r.decoder.size, 16);
    assert.equal(r.decoder.done, true);
    assert.equal(r.body, '');
  });

  it('header section: up to and including the empty line', () => {
    const header = 'A: 1\r\nB: 2\r\n\r\n';
    assert.equal(
      run(`${header}long body line\r\n.\r\n`, { maxHeaderBytes: header.length }).decoder.violation,
      undefined,
    );
    assert.equal(
      run(`${header}body\r\n.\r\n`, { maxHeaderBytes: header.length - 1 }).decoder.violation,
      'header-too-big',
    );
    assert.equal(run('A: 1\r\nB: 2\r\n.\r\n', { maxHeaderBytes: 8 }).decoder.violation, 'header-too-big');
  });

  it('the first violation wins, by position in the input', () => {
    assert.equal(run(`ab\0${'x'.repeat(20)}\r\n.\r\n`, { maxLineLength: 10 }).decoder.violation, 'nul');
    assert.equal(
      run(`${'x'.repeat(20)}\0\r\n.\r\n`, { maxLineLength: 10 }).decoder.violation,
      'line-too-long',
    );
  });
});

describe('DataDecoder: buffers', () => {
  it('hands out subarrays of the input when nothing is rewritten', () => {
    const input = Buffer.from('Subject: x\r\n\r\nbody\r\n.\r\n');
    const decoder = new DataDecoder({ ...LIMITS, policy: 'reject' });
    decoder.push(input);
    const chunks = decoder.takeChunks();
    assert.equal(chunks.length, 1);
    assert.equal(chunks[0]!.buffer, input.buffer);
    assert.equal(chunks[0]!.toString(), 'Subject: x\r\n\r\nbody\r\n');
  });

  it('never changes a chunk it handed out', () => {
    const decoder = new DataDecoder({ ...LIMITS, policy: 'normalize' });
    decoder.push(Buffer.from('a\nb\r'));
    const first = decoder.takeChunks();
    const snapshot = Buffer.concat(first).toString();
    decoder.push(Buffer.from('\n.c\n..\r\n.\r\n'));
    const second = decoder.takeChunks();
    assert.equal(Buffer.concat(first).toString(), snapshot);
    assert.equal(snapshot + Buffer.concat(second).toString(), 'a\r\nb\r\nc\r\n.\r\n');
  });
});
