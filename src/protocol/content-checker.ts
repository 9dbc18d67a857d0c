/**
 * Content checks for BDAT chunks (RFC 3030 CHUNKING).
 *
 * In: the octets of each BDAT chunk (UNTRUSTED), in order, then end() after the LAST
 * one. Out: the bytes to keep (line endings normalized under policy 'normalize'),
 * the first violation and the running size. BDAT is framed by byte counts, so there
 * is no dot handling, no terminator, and no violation is ever fatal: the caller keeps
 * reading the announced bytes and then refuses the message. Same limits and policies
 * as DATA (data-decoder.ts, whose scanner this uses). Never throws; constant work
 * per byte; output chunks are subarrays of the input when nothing was rewritten.
 */
import { BodyScanner, type DataDecoderOptions, type DataViolation } from './data-decoder.ts';

const EMPTY = Buffer.alloc(0);

export class ContentChecker {
  readonly #scanner: BodyScanner;
  readonly #policy: DataDecoderOptions['policy'];
  #ended = false;

  constructor(options: DataDecoderOptions) {
    this.#scanner = new BodyScanner(options, false, false);
    this.#policy = options.policy;
  }

  /** Returns the (possibly normalized) bytes to keep; empty after a violation. */
  push(chunk: Buffer): Buffer {
    if (this.#ended) return EMPTY;
    this.#scanner.scan(chunk);
    const pieces = this.#scanner.takePieces();
    if (pieces.length === 0) return EMPTY;
    if (pieces.length === 1) return pieces[0]!;
    return Buffer.concat(pieces);
  }

  /** Call after the LAST chunk: a trailing lone CR is a bare CR. */
  end(): void {
    if (this.#ended) return;
    this.#ended = true;
    if (this.#scanner.pendingCr && this.#policy === 'reject') this.#scanner.violate('bare-cr');
  }

  /** First violation seen; never fatal for BDAT, since framing is by count. */
  get violation(): DataViolation | undefined {
    return this.#scanner.violation;
  }

  /** Body bytes so far (counted even after a violation). */
  get size(): number {
    return this.#scanner.size;
  }
}
