/**
 * MIME encoding primitives for messages the HTTP API builds: base64 and
 * quoted-printable bodies (RFC 2045), RFC 2047 encoded words, RFC 2231 parameter
 * values, header folding (RFC 5322 2.2.3) and display names.
 *
 * Pure functions over strings and bytes. Inputs are UNTRUSTED values that the
 * caller has already checked for CR, LF and NUL (json-input.ts); these functions
 * still never emit a line over 998 octets and never let a value break out of its
 * header: every line they produce ends in CRLF and continuation lines start with
 * whitespace. Output is 7-bit ASCII except `phrase`/address text the caller
 * decided to send as UTF-8 (RFC 6532, SMTPUTF8 messages only).
 */

export const CRLF = '\r\n';
/** RFC 5322 recommends 78 characters per line; 998 is the hard limit. */
const SOFT_LIMIT = 78;
const HARD_LIMIT = 998;
/** UTF-8 octets per encoded word: 45 octets -> 60 base64 characters + 12 of framing = 72 <= 75. */
const WORD_OCTETS = 45;
const QP_LINE = 76;

/** Base64 in lines of 76 characters, each ended by CRLF. */
export function base64Lines(data: Uint8Array): string {
  const text = Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('base64');
  const lines: string[] = [];
  for (let i = 0; i < text.length; i += QP_LINE) lines.push(text.slice(i, i + QP_LINE));
  return lines.length === 0 ? '' : `${lines.join(CRLF)}${CRLF}`;
}

/** Every line ending (CRLF, bare LF, bare CR) as CRLF. */
export function canonicalLines(text: string): string {
  return text.replace(/\r\n|\r|\n/g, CRLF);
}

/** True when `text` can be sent as 7bit: ASCII, no NUL or stray controls, lines of at most 998 octets. */
export function is7bit(text: string): boolean {
  if (!/^[\t\r\n\x20-\x7e]*$/.test(text)) return false;
  return canonicalLines(text)
    .split(CRLF)
    .every((line) => line.length <= HARD_LIMIT);
}

function hex(byte: number): string {
  return `=${byte.toString(16).toUpperCase().padStart(2, '0')}`;
}

/**
 * Quoted-printable (RFC 2045 6.7) of the UTF-8 bytes of `text`, line endings made
 * CRLF, encoded lines at most 76 characters (soft breaks `=` CRLF). Whitespace at
 * the end of a line is encoded so transports that strip it cannot change the text.
 */
export function quotedPrintable(text: string): string {
  const out: string[] = [];
  // The part ends with CRLF anyway: a final line ending adds no empty line.
  const body = canonicalLines(text).replace(/\r\n$/, '');
  for (const line of body.split(CRLF)) {
    const bytes = Buffer.from(line, 'utf8');
    let current = '';
    for (let i = 0; i < bytes.length; i++) {
      const byte = bytes[i]!;
      const last = i === bytes.length - 1;
      const literal = (byte >= 33 && byte <= 126 && byte !== 61) || ((byte === 32 || byte === 9) && !last);
      const token = literal ? String.fromCharCode(byte) : hex(byte);
      // Leave room for the soft break's "=" when more follows.
      const room = last ? QP_LINE : QP_LINE - 1;
      if (current.length + token.length > room) {
        out.push(`${current}=`);
        current = '';
      }
      current += token;
    }
    out.push(current);
  }
  return `${out.join(CRLF)}${CRLF}`;
}

/** RFC 2047 "B" encoded words of `text`, split on code point boundaries, each at most 75 characters. */
export function encodedWords(text: string): string[] {
  const words: string[] = [];
  let chunk = '';
  let octets = 0;
  const flush = (): void => {
    if (chunk !== '') words.push(`=?UTF-8?B?${Buffer.from(chunk, 'utf8').toString('base64')}?=`);
    chunk = '';
    octets = 0;
  };
  for (const ch of text) {
    const size = Buffer.byteLength(ch, 'utf8');
    if (octets + size > WORD_OCTETS) flush();
    chunk += ch;
    octets += size;
  }
  flush();
  return words;
}

/** Printable ASCII (space and tab allowed) that no reader could take for an encoded word. */
function plainAscii(value: string): boolean {
  return /^[\x20-\x7e\t]*$/.test(value) && !value.includes('=?');
}

/**
 * Folds `line` (one header field without its CRLF) before whitespace that precedes
 * a non-space, aiming at 78 characters. Undefined when a piece would still exceed
 * 998 octets (the caller then encodes instead).
 */
function foldAtWhitespace(line: string): string | undefined {
  const pieces = line.split(/(?=[ \t][^ \t])/);
  const lines: string[] = [];
  let current = '';
  for (const piece of pieces) {
    if (current !== '' && current.length + piece.length > SOFT_LIMIT) {
      lines.push(current);
      current = piece;
    } else {
      current += piece;
    }
  }
  lines.push(current);
  if (lines.some((l) => l.length > HARD_LIMIT)) return undefined;
  return `${lines.join(CRLF)}${CRLF}`;
}

/** An unstructured field (Subject, custom headers): as is when plain ASCII, else encoded words. */
export function unstructuredField(name: string, value: string): string {
  if (plainAscii(value)) {
    const folded = foldAtWhitespace(`${name}: ${value}`);
    if (folded !== undefined) return folded;
  }
  const words = encodedWords(value);
  return `${name}: ${words.join(`${CRLF} `)}${CRLF}`;
}

const ATEXT_PHRASE = /^[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~ ]+$/;

/** A display name as an RFC 5322 phrase: atoms, a quoted string, or encoded words. */
export function phrase(name: string): string {
  if (plainAscii(name) && !name.includes('\t')) {
    if (ATEXT_PHRASE.test(name) && name.trim() === name && !name.includes('  ')) return name;
    return `"${name.replace(/["\\]/g, '\\$&')}"`;
  }
  return encodedWords(name).join(`${CRLF} `);
}

/** An address-list field, one address per line when they do not fit on one. */
export function addressField(name: string, addresses: readonly string[]): string {
  const oneLine = `${name}: ${addresses.join(', ')}`;
  if (oneLine.length <= SOFT_LIMIT && !oneLine.includes(CRLF)) return `${oneLine}${CRLF}`;
  return `${name}: ${addresses.join(`,${CRLF} `)}${CRLF}`;
}

/** RFC 2231 attribute-char: what may appear unencoded in an extended parameter value. */
const ATTRIBUTE_CHAR = /^[A-Za-z0-9!#$&+\-.^_`|~]$/;
const SEGMENT = 60;

/**
 * A Content-Type/Content-Disposition parameter, with its leading `;` and folding:
 * a quoted string when the value is short printable ASCII, else RFC 2231 UTF-8
 * percent-encoding split into numbered continuations.
 */
export function mimeParameter(attribute: string, value: string): string {
  if (/^[\x20-\x7e]*$/.test(value) && !/["\\]/.test(value) && value.length <= SEGMENT) {
    return `;${CRLF} ${attribute}="${value}"`;
  }
  const tokens: string[] = [];
  for (const byte of Buffer.from(value, 'utf8')) {
    const ch = String.fromCharCode(byte);
    tokens.push(
      byte < 128 && ATTRIBUTE_CHAR.test(ch) ? ch : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`,
    );
  }
  const segments: string[] = [];
  let current = "UTF-8''";
  for (const token of tokens) {
    if (current.length + token.length > SEGMENT) {
      segments.push(current);
      current = '';
    }
    current += token;
  }
  segments.push(current);
  if (segments.length === 1) return `;${CRLF} ${attribute}*=${segments[0]}`;
  return segments.map((segment, i) => `;${CRLF} ${attribute}*${i}*=${segment}`).join('');
}
