/**
 * Tests for content-checker.ts (BDAT, RFC 3030): no dot handling or terminator,
 * bare CR/LF under both policies (never fatal), CRLF split across chunks, a trailing
 * lone CR at end(), limits, and chunking independence.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ContentChecker } from './content-checker.ts';
import type { DataDecoderOptions, DataViolation, LineEndingPolicy } from './data-decoder.ts';

const LIMITS = { maxBytes: 1_000_000, maxLineLength: 998, maxHeaderBytes: 100_000 };

function check(
  chunks: readonly string[],
  policy: LineEndingPolicy,
  options: Partial<DataDecoderOptions> = {},
) {
  const checker = new ContentChecker({ ...LIMITS, ...options, policy });
  const kept: Buffer[] = [];
  for (const chunk of chunks) kept.push(checker.push(Buffer.from(chunk, 'latin1')));
  checker.end();
  return { kept: Buffer.concat(kept).toString('latin1'), violation: checker.violation, size: checker.size };
}

/** Splits text into pieces of `size` characters. */
function split(text: string, size: number): string[] {
  const out: string[] = [];
  for (let i = 0; i < text.length; i += size) out.push(text.slice(i, i + size));
  return out;
}

describe('ContentChecker', () => {
  // [input, reject violation, normalized output]
  const cases: [string, DataViolation | undefined, string][] = [
    ['Subject: x\r\n\r\nbody\r\n', undefined, 'Subject: x\r\n\r\nbody\r\n'],
    ['.\r\n..\r\n.x\r\n', undefined, '.\r\n..\r\n.x\r\n'],
    ['a\nb\r\n', 'bare-lf', 'a\r\nb\r\n'],
    ['a\rb\r\n', 'bare-cr', 'a\r\nb\r\n'],
    ['a\r\r\nb', 'bare-cr', 'a\r\n\r\nb'],
    ['a\n\rb', 'bare-lf', 'a\r\n\r\nb'],
    ['no final newline', undefined, 'no final newline'],
    ['trailing lone CR\r', 'bare-cr', 'trailing lone CR\r\n'],
    ['\n.\n', 'bare-lf', '\r\n.\r\n'],
    ['', undefined, ''],
  ];
  for (const [input, rejectViolation, normalized] of cases) {
    for (const size of [0, 1, 2, 3, 17]) {
      const chunks = size === 0 ? [input] : split(input, size);
      it(`${JSON.stringify(input)} in chunks of ${size || 'all'}`, () => {
        const rejected = check(chunks, 'reject');
        assert.equal(rejected.violation, rejectViolation);
        if (rejectViolation === undefined) assert.equal(rejected.kept, input);
        assert.equal(rejected.size, normalized.length, 'size is counted even after a violation');
        const fixed = check(chunks, 'normalize');
        assert.equal(fixed.violation, undefined);
        assert.equal(fixed.kept, normalized);
        assert.equal(fixed.size, normalized.length);
      });
    }
  }

  it('a CR at the end of one chunk and LF at the start of the next is a CRLF', () => {
    assert.deepEqual(check(['a\r', '\nb\r', '\n'], 'reject'), {
      kept: 'a\r\nb\r\n',
      violation: undefined,
      size: 6,
    });
  });

  it('NUL is a violation and nothing more is kept', () => {
    const checker = new ContentChecker({ ...LIMITS, policy: 'normalize' });
    assert.equal(checker.push(Buffer.from('ok\r\n')).toString(), 'ok\r\n');
    assert.equal(checker.push(Buffer.from('a\0b\r\n')).length, 0);
    assert.equal(checker.push(Buffer.from('more\r\n')).length, 0);
    checker.end();
    assert.equal(checker.violation, 'nul');
    assert.equal(checker.size, 15);
  });

  it('applies line, header and size limits', () => {
    assert.equal(check(['x'.repeat(11), '\r\n'], 'reject', { maxLineLength: 10 }).violation, 'line-too-long');
    assert.equal(check(['x'.repeat(10), '\r\n'], 'reject', { maxLineLength: 10 }).violation, undefined);
    assert.equal(check(['A: b\r\n', '\r\n'], 'reject', { maxHeaderBytes: 7 }).violation, 'header-too-big');
    assert.equal(check(['A: b\r\n', '\r\n'], 'reject', { maxHeaderBytes: 8 }).violation, undefined);
    assert.equal(check(['12345', '678901'], 'reject', { maxBytes: 10 }).violation, 'too-big');
    assert.equal(check(['12345', '67890'], 'reject', { maxBytes: 10 }).violation, undefined);
  });

  it('returns the input itself when nothing is rewritten', () => {
    const checker = new ContentChecker({ ...LIMITS, policy: 'reject' });
    const input = Buffer.from('line\r\n');
    assert.equal(checker.push(input).buffer, input.buffer);
  });

  it('keeps nothing after end()', () => {
    const checker = new ContentChecker({ ...LIMITS, policy: 'reject' });
    checker.end();
    assert.equal(checker.push(Buffer.from('x')).length, 0);
  });
});
