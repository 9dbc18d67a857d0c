/**
 * Incremental, strict parser of SMTP server replies (RFC 5321 4.2, RFC 3463 prefixes).
 *
 * In: raw bytes from a server, in chunks of any size (UNTRUSTED input). Out: complete
 * replies as `SmtpReply` values (code, enhanced status when the first line carries a
 * valid `x.y.z` of the same class as the code, text lines joined with `\n` with that
 * prefix removed). A partial reply stays buffered until its last line arrives.
 *
 * Strictness: only CRLF ends a line; a bare LF, or a CR anywhere but right before the
 * LF, is an error (no reply smuggling by line-ending tricks). Every line of a multi-line
 * reply must carry the same code. Lines are capped in length and replies in line count,
 * so memory per parser is bounded. Text may contain TAB and any byte >= 0x20 except
 * DEL; other control bytes are an error. Non-UTF-8 bytes decode to U+FFFD.
 *
 * Failure: `push` throws a `ReplyParseError` (code `PROTOCOL`, a `reason` for logs).
 * The parser is then poisoned: every later `push` throws the same error, because the
 * stream can no longer be framed and the caller must drop the connection.
 */
import type { SmtpReply } from '../contracts/status.ts';

export type ReplyParseReason =
  | 'line-too-long'
  | 'bare-lf'
  | 'bare-cr'
  | 'bad-code'
  | 'bad-separator'
  | 'code-mismatch'
  | 'too-many-lines'
  | 'control-char';

export class ReplyParseError extends Error {
  readonly code = 'PROTOCOL';
  readonly reason: ReplyParseReason;

  constructor(reason: ReplyParseReason, message: string) {
    super(message);
    this.name = 'ReplyParseError';
    this.reason = reason;
  }
}

export interface ReplyParserLimits {
  /** Longest accepted line in octets, excluding CRLF. */
  readonly maxLineLength: number;
  /** Most lines in one (multi-line) reply. */
  readonly maxLines: number;
}

export const DEFAULT_REPLY_LIMITS: ReplyParserLimits = Object.freeze({ maxLineLength: 4096, maxLines: 200 });

const CR = 0x0d;
const LF = 0x0a;
const ENHANCED = /^([245])\.(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})(?= |$)/;
const utf8 = new TextDecoder('utf-8', { fatal: false });

export class ReplyParser {
  readonly #limits: ReplyParserLimits;
  /** Bytes of the line not yet terminated (never longer than maxLineLength + 1). */
  #partial: Buffer = Buffer.alloc(0);
  /** Lines of the reply in progress (all but the last have "-"). */
  #code = 0;
  #lines: string[] = [];
  #failure: ReplyParseError | undefined;

  constructor(limits: Partial<ReplyParserLimits> = {}) {
    this.#limits = { ...DEFAULT_REPLY_LIMITS, ...limits };
  }

  /** True when bytes of an unfinished reply are buffered. */
  get pending(): boolean {
    return this.#partial.length > 0 || this.#lines.length > 0;
  }

  /** Feeds bytes; returns every reply completed by them, in order. Throws ReplyParseError. */
  push(chunk: Uint8Array): SmtpReply[] {
    if (this.#failure) throw this.#failure;
    try {
      return this.#consume(chunk);
    } catch (error) {
      if (error instanceof ReplyParseError) this.#failure = error;
      throw error;
    }
  }

  #consume(chunk: Uint8Array): SmtpReply[] {
    const replies: SmtpReply[] = [];
    let data = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    if (this.#partial.length > 0) data = Buffer.concat([this.#partial, data]);
    let start = 0;
    for (;;) {
      const lf = data.indexOf(LF, start);
      if (lf === -1) break;
      if (lf === start || data[lf - 1] !== CR)
        throw new ReplyParseError('bare-lf', 'reply line ends in a bare LF');
      const reply = this.#line(data.subarray(start, lf - 1));
      if (reply) replies.push(reply);
      start = lf + 1;
    }
    const rest = data.subarray(start);
    // A trailing CR may be the first half of a CRLF split across chunks: allow one extra byte.
    if (rest.length > this.#limits.maxLineLength + 1) {
      throw new ReplyParseError(
        'line-too-long',
        `reply line longer than ${this.#limits.maxLineLength} octets`,
      );
    }
    // Copy: the caller may reuse its buffer after push returns.
    this.#partial = Buffer.from(rest);
    return replies;
  }

  /** One line without its CRLF; returns the reply when this was its last line. */
  #line(line: Buffer): SmtpReply | undefined {
    if (line.length > this.#limits.maxLineLength) {
      throw new ReplyParseError(
        'line-too-long',
        `reply line longer than ${this.#limits.maxLineLength} octets`,
      );
    }
    if (line.indexOf(CR) !== -1) throw new ReplyParseError('bare-cr', 'reply line contains a bare CR');
    const c0 = line[0] ?? 0;
    const c1 = line[1] ?? 0;
    const c2 = line[2] ?? 0;
    // Reply codes: first digit 2-5, second 0-5, third 0-9 (RFC 5321 4.2.1).
    if (!(c0 >= 0x32 && c0 <= 0x35 && c1 >= 0x30 && c1 <= 0x35 && c2 >= 0x30 && c2 <= 0x39)) {
      throw new ReplyParseError('bad-code', 'reply line does not start with a valid reply code');
    }
    const code = (c0 - 0x30) * 100 + (c1 - 0x30) * 10 + (c2 - 0x30);
    const separator = line[3];
    if (separator !== undefined && separator !== 0x20 && separator !== 0x2d) {
      throw new ReplyParseError('bad-separator', 'reply code is followed by neither space nor hyphen');
    }
    for (let i = 4; i < line.length; i++) {
      const byte = line[i]!;
      if ((byte < 0x20 && byte !== 0x09) || byte === 0x7f) {
        throw new ReplyParseError('control-char', 'reply text contains a control character');
      }
    }
    if (this.#lines.length > 0 && code !== this.#code) {
      throw new ReplyParseError(
        'code-mismatch',
        `multi-line reply changes code from ${this.#code} to ${code}`,
      );
    }
    if (this.#lines.length >= this.#limits.maxLines) {
      throw new ReplyParseError('too-many-lines', `reply has more than ${this.#limits.maxLines} lines`);
    }
    this.#code = code;
    this.#lines.push(line.length > 4 ? utf8.decode(line.subarray(4)) : '');
    if (separator === 0x2d) return undefined;
    const lines = this.#lines;
    this.#lines = [];
    return buildReply(code, lines);
  }
}

/** Pulls the enhanced code off the first line (and off later lines that repeat it). */
function buildReply(code: number, lines: string[]): SmtpReply {
  const match = ENHANCED.exec(lines[0] ?? '');
  if (!match || Number(match[1]) !== Math.floor(code / 100)) return { code, text: lines.join('\n') };
  const enhanced = match[0];
  const text = lines.map((line) => stripPrefix(line, enhanced)).join('\n');
  return { code, enhanced, text };
}

function stripPrefix(line: string, enhanced: string): string {
  if (!line.startsWith(enhanced)) return line;
  const after = line.charAt(enhanced.length);
  if (after === '') return '';
  if (after === ' ') return line.slice(enhanced.length + 1);
  return line; // e.g. "5.1.10" when the prefix is "5.1.1": not the same code
}
