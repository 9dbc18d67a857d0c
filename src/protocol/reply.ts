/**
 * SMTP reply formatting (RFC 5321 4.2, RFC 3463 enhanced status codes).
 *
 * In: a reply code, an optional enhanced code and one or more text lines. Out: the
 * wire form, every line ending in CRLF, "-" after the code on all lines but the last.
 * Text may carry untrusted echoes (a client's address, its HELO name), so every
 * control character (C0, DEL, C1, which includes CR, LF and NUL) becomes a space:
 * nothing a peer sends can inject a reply line. Lines are cut so that none exceeds
 * the 512-octet reply line limit (RFC 5321 4.5.3.1.5).
 * Throws RangeError only on a programming error: a code outside 200..599 or an
 * enhanced code not shaped like "5.1.1" (those never come from a peer).
 */

/** RFC 5321 4.5.3.1.5: reply line including the code and CRLF. */
export const MAX_REPLY_LINE_OCTETS = 512;

const CONTROL_CHARS = /[\u0000-\u001f\u007f-\u009f]/g;
const ENHANCED_CODE = /^[245]\.\d{1,3}\.\d{1,3}$/;

/** Replaces every control character with a space, so the text fits on one reply line. */
export function sanitizeReplyText(text: string): string {
  return text.replace(CONTROL_CHARS, ' ');
}

/** Cuts `text` to at most `maxOctets` UTF-8 octets without splitting a character. */
function truncateOctets(text: string, maxOctets: number): string {
  if (text.length <= maxOctets / 3 || Buffer.byteLength(text) <= maxOctets) return text;
  let octets = 0;
  let end = 0;
  for (const char of text) {
    const cp = char.codePointAt(0)!;
    const size = cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
    if (octets + size > maxOctets) break;
    octets += size;
    end += char.length;
  }
  return text.slice(0, end);
}

/**
 * "250-2.0.0 a\r\n250 2.0.0 b\r\n". `enhanced` is omitted from lines when undefined.
 * Empty text gives "250 2.0.0\r\n" (or "250\r\n" without an enhanced code).
 */
export function formatReply(
  code: number,
  enhanced: string | undefined,
  text: string | readonly string[],
): string {
  if (!Number.isInteger(code) || code < 200 || code > 599) {
    throw new RangeError(`formatReply: invalid reply code ${String(code)}`);
  }
  if (enhanced !== undefined && !ENHANCED_CODE.test(enhanced)) {
    throw new RangeError(`formatReply: invalid enhanced status code ${JSON.stringify(enhanced)}`);
  }
  const lines = typeof text === 'string' ? [text] : text.length === 0 ? [''] : text;
  const prefix = enhanced === undefined ? '' : enhanced;
  // code + separator + prefix + space + CRLF
  const room = MAX_REPLY_LINE_OCTETS - 3 - 1 - (prefix === '' ? 0 : prefix.length + 1) - 2;
  let out = '';
  for (let i = 0; i < lines.length; i++) {
    const separator = i === lines.length - 1 ? ' ' : '-';
    const body = truncateOctets(sanitizeReplyText(lines[i]!), room);
    let line = String(code);
    if (prefix === '' && body === '') {
      // "250\r\n" is the RFC 5321 form of a last line without text; "250-\r\n" otherwise.
      line += separator === '-' ? '-' : '';
    } else if (prefix === '') {
      line += separator + body;
    } else {
      line += separator + prefix + (body === '' ? '' : ` ${body}`);
    }
    out += `${line}\r\n`;
  }
  return out;
}
