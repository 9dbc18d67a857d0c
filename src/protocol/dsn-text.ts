/**
 * Text hygiene for delivery status notifications (protocol/dsn.ts): cleaning
 * UNTRUSTED one-line values, folding header and DSN fields, wrapping prose, RFC 5322
 * dates and the RFC 6533 escape of UTF-8 addresses.
 *
 * Pure and total: nothing here throws. Every output line ends in CRLF and stays far
 * below 998 octets (tokens longer than HARD_CHUNK octets are cut at character
 * boundaries, which inserts a fold); no CR, LF or other control character survives
 * `cleanLine`.
 */

export const SOFT_LINE = 78;
/** A token longer than this is cut so that no line can pass 998 octets. */
export const HARD_CHUNK = 900;
export const MAX_REPLY_CHARS = 4000;

/** RFC 5322 date-time in UTC, e.g. `Sun, 22 Nov 2026 13:39:10 +0000`. */
export function rfc5322Date(epochMs: number): string {
  const d = new Date(epochMs);
  const pad = (n: number): string => String(n).padStart(2, '0');
  const day = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'][d.getUTCDay()];
  const month = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'][
    d.getUTCMonth()
  ];
  const time = `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}`;
  return `${day}, ${d.getUTCDate()} ${month} ${d.getUTCFullYear()} ${time} +0000`;
}

export function hasNonAscii(text: string): boolean {
  return /[^\x00-\x7f]/.test(text);
}

/** One line of untrusted text: breaks become spaces, controls go, non-ASCII only where allowed. */
export function cleanLine(text: string, utf8: boolean, maxChars = MAX_REPLY_CHARS): string {
  let out = text
    .replace(/\r\n|\r|\n|\t/g, ' ')
    .replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, '')
    .replace(/[\ud800-\udfff]/g, (c, i: number, s: string) => (isPairedSurrogate(s, i) ? c : '?'));
  if (!utf8) out = out.replace(/[^\x20-\x7e]/g, '?');
  out = out.trim();
  return out.length > maxChars ? `${out.slice(0, maxChars)}...` : out;
}

export function isPairedSurrogate(s: string, i: number): boolean {
  const c = s.charCodeAt(i);
  if (c <= 0xdbff) return i + 1 < s.length && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00;
  return i > 0 && (s.charCodeAt(i - 1) & 0xfc00) === 0xd800;
}

export function cleanHost(text: string): string {
  return text.replace(/[^A-Za-z0-9.\-:[\]]/g, '').slice(0, 255) || 'localhost';
}

/** Splits a token so that no piece is longer than HARD_CHUNK octets, at character boundaries. */
export function cutToken(token: string): string[] {
  if (Buffer.byteLength(token, 'utf8') <= HARD_CHUNK) return [token];
  const pieces: string[] = [];
  let piece = '';
  let bytes = 0;
  for (const ch of token) {
    const size = Buffer.byteLength(ch, 'utf8');
    if (bytes + size > HARD_CHUNK) {
      pieces.push(piece);
      piece = '';
      bytes = 0;
    }
    piece += ch;
    bytes += size;
  }
  if (piece) pieces.push(piece);
  return pieces;
}

/** Greedy word wrap: each line starts with `first` or `rest`, breaks at spaces, ends with CRLF. */
export function wrap(text: string, first: string, rest: string, width = SOFT_LINE): string {
  const words = text
    .split(' ')
    .filter((w) => w !== '')
    .flatMap(cutToken);
  if (words.length === 0) return `${first.trimEnd()}\r\n`;
  let out = '';
  let line = first;
  let lineHasWord = false;
  for (const word of words) {
    const candidate = lineHasWord ? `${line} ${word}` : `${line}${word}`;
    if (lineHasWord && Buffer.byteLength(candidate, 'utf8') > width) {
      out += `${line}\r\n`;
      line = `${rest}${word}`;
    } else {
      line = candidate;
    }
    lineHasWord = true;
  }
  return `${out}${line}\r\n`;
}

/** A header field (or DSN field), folded at spaces; the value must already be clean. */
export function field(name: string, value: string): string {
  return wrap(value, `${name}: `, ' ');
}

export function utf8AddrEscape(address: string, global: boolean): string {
  let out = '';
  for (const ch of address.slice(0, 500)) {
    const cp = ch.codePointAt(0) ?? 0;
    const plain =
      cp > 0x20 && cp !== 0x7f && ch !== '\\' && ch !== '+' && ch !== '=' && (cp < 0x80 || global);
    const unsafe = (cp >= 0x80 && cp <= 0x9f) || (cp >= 0xd800 && cp <= 0xdfff);
    out += plain && !unsafe ? ch : `\\x{${cp.toString(16).toUpperCase()}}`;
  }
  return out;
}
