/**
 * The DATA phase reader (RFC 5321 4.1.1.4, 4.5.2) and the line scanner it shares with
 * BDAT (content-checker.ts).
 *
 * In: raw bytes from the client (UNTRUSTED), in chunks of any size. Out: the message
 * body, dot-unstuffed and with CRLF line endings, as Buffer chunks; the number of
 * input bytes that belonged to DATA; and the first violation of our limits.
 *
 * Framing is the single most security-relevant rule here: the ONLY terminator is the
 * literal octets CR LF "." CR LF (the first line counts as following a CRLF). "\n.\n",
 * "\r.\r", "\r\n.\n" and the like never end DATA: under policy 'reject' a bare CR or LF
 * is fatal (the caller answers and closes, since the client and we may disagree on
 * where the message ends: SMTP smuggling); under 'normalize' it becomes CRLF and the
 * line is ordinary content. NUL, over-long lines, an over-long header section and an
 * over-size message are non-fatal: the rest is read and discarded up to the real
 * terminator. Never throws. Work per byte is constant; content runs are found with
 * Buffer.indexOf and handed out as subarrays of the input (never copied unless the
 * line endings are rewritten), so the caller must not reuse input buffers it pushed.
 */

export type LineEndingPolicy = 'reject' | 'normalize';
export type DataViolation = 'bare-lf' | 'bare-cr' | 'nul' | 'line-too-long' | 'too-big' | 'header-too-big';

export interface DataDecoderOptions {
  readonly policy: LineEndingPolicy;
  /** Body bytes after unstuffing. */
  readonly maxBytes: number;
  /** Octets per line excluding CRLF (as on the wire, a stuffing dot included). */
  readonly maxLineLength: number;
  /** Header section, up to and including the empty line. */
  readonly maxHeaderBytes: number;
}

const CR = 0x0d;
const LF = 0x0a;
const DOT = 0x2e;
/** Above this many output pieces from one input chunk, they are joined into one Buffer. */
const MAX_PIECES_PER_SCAN = 8;

/**
 * line-start: at the first octet of a line; mid: inside a line; cr: a CR ended the
 * previous chunk (its CRLF already emitted), a following LF is swallowed; dot: a "."
 * opened a line and is held back; dot-cr: "." CR opened a line, both held back.
 */
type ScanState = 'line-start' | 'mid' | 'cr' | 'dot' | 'dot-cr';

/**
 * The shared scanner. With `dots` it does DATA framing (unstuffing, terminator);
 * without, it only checks and normalizes (BDAT). `fatalOnBare` makes a bare CR/LF
 * under 'reject' stop everything.
 */
export class BodyScanner {
  readonly #options: DataDecoderOptions;
  readonly #dots: boolean;
  readonly #fatalOnBare: boolean;
  #state: ScanState = 'line-start';
  /** The current line began right after a literal CRLF (or at the start): only then can "." CRLF end DATA. */
  #crlfStart = true;
  #lineLength = 0;
  #size = 0;
  #headerDone = false;
  #violation: DataViolation | undefined;
  #fatal = false;
  #done = false;
  /** Output not yet taken by takePieces(). */
  #pieces: Buffer[] = [];

  constructor(options: DataDecoderOptions, dots: boolean, fatalOnBare: boolean) {
    this.#options = options;
    this.#dots = dots;
    this.#fatalOnBare = fatalOnBare;
  }

  get done(): boolean {
    return this.#done;
  }
  get fatal(): boolean {
    return this.#fatal;
  }
  get violation(): DataViolation | undefined {
    return this.#violation;
  }
  get size(): number {
    return this.#size;
  }
  /** True when the scanner ended in the middle of a CR whose LF has not been seen. */
  get pendingCr(): boolean {
    return this.#state === 'cr';
  }

  /** Records a violation; a fatal one replaces an earlier non-fatal one. */
  violate(kind: DataViolation, fatal = false): void {
    if (this.#violation === undefined || (fatal && !this.#fatal)) this.#violation = kind;
    if (fatal) this.#fatal = true;
  }

  /** A bare CR or LF was seen; returns true when scanning must stop (fatal). */
  #bare(kind: 'bare-cr' | 'bare-lf'): boolean {
    if (this.#options.policy === 'normalize') return false;
    this.violate(kind, this.#fatalOnBare);
    return this.#fatalOnBare;
  }

  #addOutput(count: number): void {
    this.#size += count;
    if (this.#size > this.#options.maxBytes) this.violate('too-big');
    if (!this.#headerDone && this.#size > this.#options.maxHeaderBytes) {
      this.#headerDone = true;
      this.violate('header-too-big');
    }
  }

  /** Accounts for a line ending (always 2 output octets: CRLF). */
  #endLine(): void {
    const empty = this.#lineLength === 0;
    this.#addOutput(2);
    if (empty) this.#headerDone = true;
    this.#lineLength = 0;
  }

  /**
   * Accounts for content octets chunk[from, to) of the current line. When limits are
   * crossed, the violation is the one at the earliest octet, so that the result does
   * not depend on how the input was chunked.
   */
  #content(from: number, to: number, nulPos: number): void {
    const count = to - from;
    const o = this.#options;
    const lineOver = this.#lineLength + count > o.maxLineLength;
    const headerOver = !this.#headerDone && this.#size + count > o.maxHeaderBytes;
    const sizeOver = this.#size + count > o.maxBytes;
    const nul = nulPos >= from && nulPos < to;
    if (this.#violation === undefined && (nul || lineOver || headerOver || sizeOver)) {
      // Offset of the first octet that breaks each limit; ties go to the earlier check.
      let at = nul ? nulPos - from : count;
      let kind: DataViolation = 'nul';
      const consider = (over: boolean, offset: number, candidate: DataViolation) => {
        if (over && offset < at) {
          at = offset;
          kind = candidate;
        }
      };
      consider(lineOver, o.maxLineLength - this.#lineLength, 'line-too-long');
      consider(headerOver, o.maxHeaderBytes - this.#size, 'header-too-big');
      consider(sizeOver, o.maxBytes - this.#size, 'too-big');
      this.violate(kind);
    }
    if (headerOver) this.#headerDone = true;
    this.#lineLength += count;
    this.#size += count;
  }

  /** Emits a few fixed octets (inserted CR or LF, a kept dot). Fresh each time: callers may keep them. */
  #emitBytes(text: string): void {
    if (this.#violation === undefined) this.#pieces.push(Buffer.from(text, 'latin1'));
  }

  /**
   * Scans `chunk`; returns how many of its octets belong to the message (all of them
   * unless the DATA terminator ended inside it, or after a fatal violation: then all,
   * since nothing after it may be interpreted). Output goes to takePieces().
   */
  scan(chunk: Buffer): number {
    if (this.#done) return 0;
    if (this.#fatal) return chunk.length;
    const n = chunk.length;
    const pieces = this.#pieces;
    const firstPiece = pieces.length;
    const nulPos = this.#violation === undefined ? chunk.indexOf(0) : -1;
    let runStart = 0;
    let nextCr = -2;
    let nextLf = -2;
    let i = 0;
    const flush = (end: number) => {
      if (end > runStart && this.#violation === undefined) pieces.push(chunk.subarray(runStart, end));
    };
    while (i < n) {
      switch (this.#state) {
        case 'line-start': {
          if (this.#dots && chunk[i] === DOT) {
            flush(i);
            this.#state = 'dot';
            this.#lineLength = 1;
            if (this.#lineLength > this.#options.maxLineLength) this.violate('line-too-long');
            i++;
          } else {
            this.#state = 'mid';
          }
          break;
        }
        case 'mid': {
          if (nextCr !== -1 && nextCr < i) nextCr = chunk.indexOf(CR, i);
          if (nextLf !== -1 && nextLf < i) nextLf = chunk.indexOf(LF, i);
          let j = n;
          if (nextCr !== -1) j = nextCr;
          if (nextLf !== -1 && nextLf < j) j = nextLf;
          if (j > i) this.#content(i, j, nulPos);
          i = j;
          if (i === n) break;
          if (chunk[i] === CR) {
            this.#endLine();
            if (i + 1 === n) {
              // The LF, if any, is in the next chunk: emit CRLF now and swallow that LF later.
              flush(n);
              this.#emitBytes('\n');
              runStart = n;
              this.#state = 'cr';
              i = n;
            } else if (chunk[i + 1] === LF) {
              this.#state = 'line-start';
              this.#crlfStart = true;
              i += 2;
            } else {
              if (this.#bare('bare-cr')) return this.#stop(n);
              flush(i + 1);
              this.#emitBytes('\n');
              runStart = i + 1;
              this.#state = 'line-start';
              this.#crlfStart = false;
              i++;
            }
          } else {
            if (this.#bare('bare-lf')) return this.#stop(n);
            this.#endLine();
            flush(i);
            this.#emitBytes('\r');
            runStart = i;
            this.#state = 'line-start';
            this.#crlfStart = false;
            i++;
          }
          break;
        }
        case 'cr': {
          this.#state = 'line-start';
          if (chunk[i] === LF) {
            this.#crlfStart = true;
            i++;
            runStart = i;
          } else {
            if (this.#bare('bare-cr')) return this.#stop(n);
            this.#crlfStart = false;
          }
          break;
        }
        case 'dot': {
          const b = chunk[i];
          if (b === CR) {
            this.#state = 'dot-cr';
            i++;
          } else if (b === LF) {
            if (this.#bare('bare-lf')) return this.#stop(n);
            this.#keptDotLine();
            i++;
            runStart = i;
            this.#crlfStart = false;
          } else {
            // "..x" or ".x": the leading dot is removed (RFC 5321 4.5.2).
            runStart = i;
            this.#state = 'mid';
          }
          break;
        }
        case 'dot-cr': {
          if (chunk[i] === LF) {
            i++;
            if (this.#crlfStart) {
              this.#done = true;
              return this.#finish(i, firstPiece);
            }
            this.#keptDotLine();
            runStart = i;
            this.#crlfStart = true;
          } else {
            if (this.#bare('bare-cr')) return this.#stop(n);
            this.#keptDotLine();
            runStart = i;
            this.#crlfStart = false;
          }
          break;
        }
        default: {
          const impossible: never = this.#state;
          throw new Error(`unknown scan state ${String(impossible)}`);
        }
      }
    }
    if (this.#state !== 'dot' && this.#state !== 'dot-cr') flush(n);
    return this.#finish(n, firstPiece);
  }

  /** A line holding only "." that is not the terminator: kept as content. */
  #keptDotLine(): void {
    this.#emitBytes('.\r\n');
    this.#addOutput(1);
    this.#endLine();
    this.#state = 'line-start';
  }

  #stop(n: number): number {
    this.#pieces = [];
    return n;
  }

  #finish(consumed: number, firstPiece: number): number {
    if (this.#violation !== undefined) {
      this.#pieces = [];
    } else if (this.#pieces.length - firstPiece > MAX_PIECES_PER_SCAN) {
      // Many short pieces (dot-stuffed or rewritten lines): one copy beats thousands of tiny Buffers.
      this.#pieces.push(Buffer.concat(this.#pieces.splice(firstPiece)));
    }
    return consumed;
  }

  /** Output of the scans so far (nothing once a violation was seen). */
  takePieces(): Buffer[] {
    const pieces = this.#pieces;
    this.#pieces = [];
    return this.#violation === undefined ? pieces : [];
  }
}

export class DataDecoder {
  readonly #scanner: BodyScanner;

  constructor(options: DataDecoderOptions) {
    this.#scanner = new BodyScanner(options, true, true);
  }

  /**
   * Consumes bytes up to and including the terminator; returns how many bytes of chunk
   * were consumed (chunk.length unless the terminator was inside it: the rest is the
   * client's next pipelined command and belongs to the caller). 0 once done; all of
   * chunk once fatal.
   */
  push(chunk: Buffer): number {
    return this.#scanner.scan(chunk);
  }

  get done(): boolean {
    return this.#scanner.done;
  }

  /** Body chunks since the last call; none after a violation. */
  takeChunks(): Buffer[] {
    return this.#scanner.takePieces();
  }

  /** First violation seen (a fatal bare CR/LF replaces an earlier non-fatal one). */
  get violation(): DataViolation | undefined {
    return this.#scanner.violation;
  }

  /** Bare CR or LF under 'reject': reply at once and close; no later byte is interpreted. */
  get fatal(): boolean {
    return this.#scanner.fatal;
  }

  /** Body bytes so far (counted even while discarding). */
  get size(): number {
    return this.#scanner.size;
  }
}
