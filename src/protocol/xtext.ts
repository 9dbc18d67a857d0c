/**
 * xtext (RFC 3461 4.2): the encoding of ENVID, ORCPT and AUTH= values.
 *
 * In: the raw parameter value from a MAIL or RCPT line (UNTRUSTED). Out: the decoded
 * text, or null when it is malformed: a character outside "!".."~", a raw "+" or "="
 * that is not part of "+HH", "+" not followed by two UPPER-case hex digits, octets
 * that are not valid UTF-8, or a decoded control character (C0, DEL, C1; so "+0D+0A"
 * or "+00" cannot smuggle a line break into a DSN or a log). Never throws; linear.
 * encodeXtext is the inverse for any text without control characters: everything
 * outside "!".."~", and "+" and "=", becomes "+HH" of its UTF-8 octets.
 */

const UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;
const PLAIN_XTEXT = /^[!-*,-<>-~]*$/;

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x41 && c <= 0x46) return c - 0x41 + 10;
  return -1;
}

/** True when `text` holds a C0 control, DEL or a C1 control. */
export function hasControlChar(text: string): boolean {
  return CONTROL.test(text);
}

/** Decodes xtext; null if malformed or if the decoded text holds a control character. */
export function decodeXtext(text: string): string | null {
  if (PLAIN_XTEXT.test(text)) return text;
  const bytes = new Uint8Array(text.length);
  let length = 0;
  let nonAscii = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x2b) {
      const high = hexValue(text.charCodeAt(i + 1));
      const low = hexValue(text.charCodeAt(i + 2));
      if (high < 0 || low < 0) return null;
      const octet = high * 16 + low;
      if (octet >= 0x80) nonAscii = true;
      bytes[length++] = octet;
      i += 2;
      continue;
    }
    if (c < 33 || c > 126 || c === 0x3d) return null;
    bytes[length++] = c;
  }
  let decoded: string;
  if (nonAscii) {
    try {
      decoded = UTF8.decode(bytes.subarray(0, length));
    } catch {
      return null;
    }
  } else {
    decoded = Buffer.from(bytes.buffer, 0, length).toString('latin1');
  }
  return hasControlChar(decoded) ? null : decoded;
}

/** Encodes text as xtext (the inverse of decodeXtext for text without control characters). */
export function encodeXtext(text: string): string {
  if (PLAIN_XTEXT.test(text)) return text;
  let out = '';
  for (const octet of Buffer.from(text, 'utf8')) {
    if (octet >= 33 && octet <= 126 && octet !== 0x2b && octet !== 0x3d) out += String.fromCharCode(octet);
    else out += `+${octet.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}
