/**
 * Turns message bytes into the SMTP DATA stream (RFC 5321 4.5.2 transparency).
 *
 * In: the message in chunks of any size. The spool promises CRLF-canonical bytes, but
 * this does not trust it: a bare CR or bare LF becomes CRLF, so the stream never holds
 * a stray CR or LF a receiver could read as a line end (or an end-of-data) differently.
 * Every line starting with "." gets one more ".". Works across chunk boundaries (a CR
 * at the end of one chunk waits for the next byte).
 *
 * Out: `push` returns the bytes to write now; `end` returns the rest including the
 * terminator: a CRLF first when the body did not end with one, then ".\r\n". An empty
 * body gives just ".\r\n" (after the 354 the client is at the start of a line).
 *
 * Never fails; output is at most twice the input plus 5 bytes. Input is the message
 * we deliver (semi-trusted: it came from a client, through our ingress).
 */

const CR = 0x0d;
const LF = 0x0a;
const DOT = 0x2e;

export class DotStuffer {
  /** True when the next byte starts a line (also at the very start). */
  #lineStart = true;
  /** The previous chunk ended in a CR whose partner (LF or not) is still unknown. */
  #pendingCr = false;
  #ended = false;

  /** Transforms one chunk; the returned buffer is new (the input is not kept). */
  push(chunk: Uint8Array): Buffer {
    if (this.#ended) throw new Error('DotStuffer: push after end');
    const input = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    const length = input.length;
    const out = Buffer.allocUnsafe(length * 2 + 2);
    let n = 0;
    let i = 0;
    if (this.#pendingCr && length > 0) {
      this.#pendingCr = false;
      out[n++] = CR;
      out[n++] = LF;
      this.#lineStart = true;
      if (input[0] === LF) i = 1; // the CRLF was merely split across chunks
    }
    // Copy runs between line ends with Buffer.copy; positions of the next CR and LF are
    // cached so the scan stays linear however the line ends are mixed.
    let nextCr = input.indexOf(CR, i);
    let nextLf = input.indexOf(LF, i);
    while (i < length) {
      if (nextCr !== -1 && nextCr < i) nextCr = input.indexOf(CR, i);
      if (nextLf !== -1 && nextLf < i) nextLf = input.indexOf(LF, i);
      if (this.#lineStart && input[i] === DOT) out[n++] = DOT;
      const end =
        nextCr === -1 ? (nextLf === -1 ? length : nextLf) : nextLf === -1 ? nextCr : Math.min(nextCr, nextLf);
      if (end > i) {
        if (end - i > 32) n += input.copy(out, n, i, end);
        else for (let k = i; k < end; k++) out[n++] = input[k]!;
        this.#lineStart = false;
      }
      if (end === length) break;
      if (input[end] === CR) {
        if (end + 1 === length) {
          this.#pendingCr = true; // is it CRLF or a bare CR? The next chunk tells
          break;
        }
        i = input[end + 1] === LF ? end + 2 : end + 1;
      } else {
        i = end + 1;
      }
      // Bare CR, bare LF and CRLF all leave as CRLF.
      out[n++] = CR;
      out[n++] = LF;
      this.#lineStart = true;
    }
    return out.subarray(0, n);
  }

  /** Final bytes: a pending line end, a CRLF if the last line was unterminated, then ".\r\n". */
  end(): Buffer {
    if (this.#ended) throw new Error('DotStuffer: end called twice');
    this.#ended = true;
    if (this.#pendingCr || !this.#lineStart) return Buffer.from('\r\n.\r\n', 'latin1');
    return Buffer.from('.\r\n', 'latin1');
  }
}

/** Convenience for whole buffers: the complete DATA stream for `body`. */
export function dotStuff(body: Uint8Array): Buffer {
  const stuffer = new DotStuffer();
  return Buffer.concat([stuffer.push(body), stuffer.end()]);
}

const END_AFTER_CRLF = Buffer.from('.\r\n', 'latin1');
const END_AFTER_TEXT = Buffer.from('\r\n.\r\n', 'latin1');

/**
 * The terminator to append when `body` can go out as DATA unchanged, else undefined.
 *
 * A body needs no change when every CR is followed by LF, every LF follows a CR, and
 * no line starts with "." (the spool's canonical form, almost always true): then the
 * DATA stream is the body itself plus ".\r\n" (or "\r\n.\r\n" after an unterminated
 * last line), with no copy and no per-line work. Otherwise DotStuffer does the job.
 * One pass over the bytes, four at a time where no byte below 0x0E (CR, LF and the
 * other controls) can be among them; it reads the body and never changes it.
 */
export function unchangedDataEnd(body: Uint8Array): Buffer | undefined {
  const length = body.length;
  if (length === 0) return END_AFTER_CRLF;
  if (body[0] === DOT) return undefined;
  const offset = body.byteOffset;
  const alignedStart = (offset + 3) & ~3;
  const wordCount = Math.max(0, ((offset + length) & ~3) - alignedStart) >> 2;
  const words = new Uint32Array(body.buffer, alignedStart, wordCount);
  const wordsFrom = alignedStart - offset;
  let i = 0;
  for (;;) {
    if (i >= wordsFrom && ((i - wordsFrom) & 3) === 0) {
      // Skip whole words with no byte below 0x0E (the expression is non-zero exactly
      // when one of w's four bytes is below 0x0E).
      let k = (i - wordsFrom) >> 2;
      while (k < wordCount) {
        const w = words[k]!;
        if (((w - 0x0e0e0e0e) & ~w & 0x80808080) !== 0) break;
        k++;
      }
      i = wordsFrom + k * 4;
    }
    if (i >= length) break;
    const byte = body[i]!;
    if (byte === LF) return undefined;
    if (byte !== CR) {
      i++;
      continue;
    }
    if (body[i + 1] !== LF || body[i + 2] === DOT) return undefined;
    i += 2;
  }
  return body[length - 1] === LF ? END_AFTER_CRLF : END_AFTER_TEXT;
}
