/**
 * RFC 5321 Mailbox parsing and formatting, with RFC 6531 (SMTPUTF8) addresses.
 *
 * In: the text between the angle brackets of a path, source route already removed
 * ("local@domain"). Out: a ParseResult holding the local part (unquoted: quoted-pairs
 * resolved), the domain lower-cased (or an address literal such as "[192.0.2.1]" or
 * "[IPv6:2001:db8::1]"), and flags. Handles UNTRUSTED input: never throws, work is
 * linear in the input, and everything a later stage could trip over is refused:
 * control characters even inside quotes, "%" or "!" routing is NOT interpreted (the
 * domain after the last-parsed "@" is the only destination), several "@" outside
 * quotes are an error. Errors carry the SMTP reply to give: 501 5.1.3 for syntax,
 * 553 5.1.3 for length limits, 553 5.6.7 for UTF-8 without SMTPUTF8.
 */

import { isIP } from 'node:net';
import { domainToASCII } from 'node:url';

export interface Mailbox {
  readonly local: string;
  readonly domain: string;
  readonly addressLiteral: boolean;
  readonly utf8: boolean;
}

export type ParseResult<T> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly code: number; readonly enhanced: string; readonly message: string };

export function parseOk<T>(value: T): ParseResult<T> {
  return { ok: true, value };
}

export function parseError(code: number, enhanced: string, message: string): ParseResult<never> {
  return { ok: false, code, enhanced, message };
}

/** RFC 5321 4.5.3.1: local part 64 octets, a whole mailbox 254 (a path is 256 with brackets). */
export const MAX_LOCAL_OCTETS = 64;
export const MAX_MAILBOX_OCTETS = 254;
export const MAX_DOMAIN_OCTETS = 255;
export const MAX_LABEL_OCTETS = 63;

const ATEXT = "A-Za-z0-9!#$%&'*+\\-/=?^_`{|}~";
const DOT_STRING_ASCII = new RegExp(`^[${ATEXT}]+(?:\\.[${ATEXT}]+)*$`);
const DOT_STRING_UTF8 = new RegExp(`^[${ATEXT}\\u0080-\\uffff]+(?:\\.[${ATEXT}\\u0080-\\uffff]+)*$`);
const LDH_LABEL = /^[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?$/;
const UTF8_LABEL = /^[A-Za-z0-9\u0080-\uffff-]+$/;
const NON_ASCII = /[^\u0000-\u007f]/;
/**
 * Non-ASCII code points never accepted in an address: C1 controls, unpaired
 * surrogates (invalid UTF-8 on the wire), line/paragraph separators, the BOM and
 * U+FFFD (what a decoder puts where the client sent invalid UTF-8).
 */
const BAD_UNICODE = /[\p{Cc}\p{Cs}\p{Zl}\p{Zp}\uFEFF\uFFFD]/u;

const SYNTAX = (message: string) => parseError(501, '5.1.3', message);
const TOO_LONG = (message: string) => parseError(553, '5.1.3', message);
const NEEDS_UTF8 = parseError(553, '5.6.7', 'non-ASCII address requires SMTPUTF8');

/** True when `text` contains a character outside US-ASCII. */
export function hasNonAscii(text: string): boolean {
  return NON_ASCII.test(text);
}

/** True when `text` contains a code point an address may never hold (see BAD_UNICODE). */
export function hasBadUnicode(text: string): boolean {
  return BAD_UNICODE.test(text);
}

function lowerAscii(text: string): string {
  return text.replace(/[A-Z]+/g, (s) => s.toLowerCase());
}

/**
 * Validates an RFC 5321 Domain (LDH labels; U-labels only when allowUtf8) and returns
 * it lower-cased. A U-label must convert to a valid A-label (node:url domainToASCII)
 * that is still a single label (no full-width dots sneaking in).
 */
export function parseDomain(text: string, allowUtf8: boolean): ParseResult<string> {
  if (text === '') return SYNTAX('missing domain');
  if (Buffer.byteLength(text) > MAX_DOMAIN_OCTETS) return TOO_LONG('domain too long');
  const utf8 = hasNonAscii(text);
  if (utf8 && !allowUtf8) return NEEDS_UTF8;
  if (utf8 && hasBadUnicode(text)) return SYNTAX('invalid character in domain');
  let asciiLength = 0;
  const labels = text.split('.');
  for (const label of labels) {
    if (label === '') return SYNTAX('empty label in domain');
    if (!hasNonAscii(label)) {
      if (label.length > MAX_LABEL_OCTETS) return TOO_LONG('domain label too long');
      if (!LDH_LABEL.test(label)) return SYNTAX('invalid domain');
      asciiLength += label.length + 1;
      continue;
    }
    if (!UTF8_LABEL.test(label) || label.startsWith('-') || label.endsWith('-'))
      return SYNTAX('invalid domain');
    const alabel = domainToASCII(label);
    if (alabel === '' || alabel.includes('.') || !alabel.startsWith('xn--') || !LDH_LABEL.test(alabel)) {
      return SYNTAX('invalid internationalized domain');
    }
    if (alabel.length > MAX_LABEL_OCTETS) return TOO_LONG('domain label too long');
    asciiLength += alabel.length + 1;
  }
  if (asciiLength - 1 > MAX_DOMAIN_OCTETS) return TOO_LONG('domain too long');
  return parseOk(utf8 ? text.toLowerCase() : lowerAscii(text));
}

/**
 * Validates an address literal "[192.0.2.1]" or "[IPv6:2001:db8::1]" (node:net isIP;
 * zone ids and other tags refused). Returns it with the tag spelled "IPv6:" and hex
 * digits lower-cased.
 */
export function parseAddressLiteral(text: string): ParseResult<string> {
  if (text.length < 3 || text[0] !== '[' || text[text.length - 1] !== ']') {
    return SYNTAX('invalid address literal');
  }
  const inner = text.slice(1, -1);
  if (/^ipv6:/i.test(inner)) {
    const address = inner.slice(5);
    if (!/^[0-9A-Fa-f:.]+$/.test(address) || isIP(address) !== 6)
      return SYNTAX('invalid IPv6 address literal');
    return parseOk(`[IPv6:${address.toLowerCase()}]`);
  }
  if (!/^[0-9.]+$/.test(inner) || isIP(inner) !== 4) return SYNTAX('invalid address literal');
  return parseOk(text);
}

/** Reads a Quoted-string starting at text[0] === '"'; returns the unquoted content and the index after it. */
function readQuoted(text: string, allowUtf8: boolean): { content: string; end: number } | string {
  let content = '';
  let runStart = 1;
  for (let i = 1; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) return { content: content + text.slice(runStart, i), end: i + 1 };
    if (c === 0x5c) {
      const next = text.charCodeAt(i + 1);
      // quoted-pairSMTP = "\" %d32-126: no controls, no UTF-8 even with SMTPUTF8.
      if (!(next >= 32 && next <= 126)) return 'invalid quoted pair in local part';
      content += text.slice(runStart, i) + text[i + 1];
      i++;
      runStart = i + 1;
      continue;
    }
    if (c < 32 || c === 127) return 'control character in local part';
    if (c > 127 && !allowUtf8) return 'non-ASCII local part';
  }
  return 'unterminated quoted local part';
}

/**
 * Parses an RFC 5321 Mailbox: local-part "@" (domain | address-literal), no brackets.
 * The local part is a Dot-string or a Quoted-string; the result holds it unquoted.
 */
export function parseMailbox(text: string, options: { readonly allowUtf8: boolean }): ParseResult<Mailbox> {
  if (Buffer.byteLength(text) > MAX_MAILBOX_OCTETS) return TOO_LONG('address too long');
  const utf8 = hasNonAscii(text);
  if (utf8 && !options.allowUtf8) return NEEDS_UTF8;
  if (utf8 && hasBadUnicode(text)) return SYNTAX('invalid character in address');
  let local: string;
  let at: number;
  if (text.startsWith('"')) {
    const quoted = readQuoted(text, utf8);
    if (typeof quoted === 'string') return SYNTAX(quoted);
    local = quoted.content;
    at = quoted.end;
    if (text[at] !== '@') return SYNTAX(at >= text.length ? 'missing domain' : 'invalid local part');
  } else {
    at = text.indexOf('@');
    if (at < 0) return SYNTAX('missing domain');
    local = text.slice(0, at);
    if (local === '') return SYNTAX('empty local part');
    if (!(utf8 ? DOT_STRING_UTF8 : DOT_STRING_ASCII).test(local)) return SYNTAX('invalid local part');
  }
  if (Buffer.byteLength(text.slice(0, at)) > MAX_LOCAL_OCTETS) return TOO_LONG('local part too long');
  const domainText = text.slice(at + 1);
  const literal = domainText.startsWith('[');
  const domain = literal ? parseAddressLiteral(domainText) : parseDomain(domainText, utf8);
  if (!domain.ok) return domain;
  return parseOk({ local, domain: domain.value, addressLiteral: literal, utf8 });
}

/** True when `local` can be written without quotes (an RFC 5321/6531 Dot-string). */
export function isDotString(local: string): boolean {
  return DOT_STRING_UTF8.test(local) && !hasBadUnicode(local);
}

/**
 * Inverse of parseMailbox: "local@domain", quoting the local part only when it is not
 * a valid Dot-string. A mailbox with domain '' (the bare "<Postmaster>") gives just
 * the local part.
 */
export function formatMailbox(mailbox: Mailbox): string {
  const local = isDotString(mailbox.local) ? mailbox.local : `"${mailbox.local.replace(/["\\]/g, '\\$&')}"`;
  return mailbox.domain === '' ? local : `${local}@${mailbox.domain}`;
}
