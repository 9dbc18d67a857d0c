/**
 * MAIL FROM and RCPT TO argument parsing: the path and the ESMTP parameters
 * (RFC 5321 4.1.2, SIZE RFC 1870, BODY RFC 6152, SMTPUTF8 RFC 6531, DSN RFC 3461,
 * ORCPT utf-8 addresses RFC 6533, AUTH= RFC 4954).
 *
 * In: the text after "MAIL " / "RCPT " (UNTRUSTED) and which extensions were offered.
 * Out: a ParseResult with the parsed path and parameters, or the reply to give:
 * 501 for syntax (5.1.7 bad sender, 5.1.3 bad recipient, 5.5.4 bad parameter),
 * 555 5.5.4 for a parameter not offered, 553 for addresses too long or needing
 * SMTPUTF8. Never throws; work is linear in the input. A source route is checked
 * and dropped: only the final mailbox counts.
 */
import type { BodyType, DsnNotify, OriginalRecipient } from '../contracts/envelope.ts';
import {
  hasBadUnicode,
  type Mailbox,
  type ParseResult,
  parseDomain,
  parseError,
  parseMailbox,
  parseOk,
} from './address.ts';
import { decodeXtext, hasControlChar } from './xtext.ts';

export interface MailFrom {
  /** null for the null reverse path <>. */
  readonly reversePath: Mailbox | null;
  readonly size?: number;
  readonly body?: BodyType;
  readonly smtputf8: boolean;
  readonly ret?: 'FULL' | 'HDRS';
  readonly envid?: string;
  /** RFC 4954 AUTH= value, xtext-decoded ("<>" when the client sent AUTH=<>). */
  readonly auth?: string;
}

export interface RcptTo {
  readonly forwardPath: Mailbox;
  /** true for "<Postmaster>" without domain (RFC 5321 4.5.1); forwardPath then has domain '' */
  readonly postmaster: boolean;
  readonly notify?: readonly DsnNotify[] | 'NEVER';
  readonly orcpt?: OriginalRecipient;
}

export interface Extensions {
  readonly utf8: boolean;
  readonly dsn: boolean;
  /** RFC 4954: whether AUTH was offered. MAIL's AUTH= is refused (555) only when this is false. */
  readonly auth?: boolean;
}

/** RFC 3461 4.4 and 4.2 limits on the encoded values. */
export const MAX_ENVID_LENGTH = 100;
export const MAX_ORCPT_LENGTH = 500;
const MAX_SIZE_DIGITS = 16;

const KEYWORD = /^[A-Za-z0-9][A-Za-z0-9-]*$/;
const VALUE_ASCII = /^[!-<>-~]+$/;
const VALUE_UTF8 = /^[!-<>-~\u0080-\uffff]+$/;
const ADDR_TYPE = /^[A-Za-z0-9][A-Za-z0-9-]*$/;

const badParam = (message: string) => parseError(501, '5.5.4', message);
const notOffered = (keyword: string) => parseError(555, '5.5.4', `Unsupported parameter ${keyword}`);

/** Upper-cases ASCII letters only: "8bıtmime" or "ſuccess" must not turn into keywords. */
function upperAscii(text: string): string {
  return text.replace(/[a-z]+/g, (s) => s.toUpperCase());
}

interface Param {
  readonly keyword: string;
  readonly value: string | undefined;
}

interface SplitArgs {
  /** Text between the angle brackets. */
  readonly path: string;
  readonly params: readonly Param[];
}

/** Index of the ">" closing the path that starts at `open`, skipping quoted strings; -1 if none. */
function findPathEnd(args: string, open: number): number {
  let quoted = false;
  for (let i = open + 1; i < args.length; i++) {
    const c = args.charCodeAt(i);
    if (quoted) {
      if (c === 0x5c) i++;
      else if (c === 0x22) quoted = false;
    } else if (c === 0x22) {
      quoted = true;
    } else if (c === 0x3e) {
      return i;
    }
  }
  return -1;
}

/** Splits "FROM:<path> K=V K2" into the path text and the parameters (syntax only). */
function splitArgs(args: string, prefix: string, allowUtf8: boolean): ParseResult<SplitArgs> {
  const usage = badParam(`Syntax: ${prefix === 'FROM:' ? 'MAIL FROM:<address>' : 'RCPT TO:<address>'}`);
  if (upperAscii(args.slice(0, prefix.length)) !== prefix) return usage;
  let open = prefix.length;
  if (args[open] === ' ') open++;
  if (args[open] !== '<') return usage;
  const close = findPathEnd(args, open);
  if (close < 0) return usage;
  const rest = args.slice(close + 1);
  if (rest !== '' && rest[0] !== ' ') return usage;
  const params: Param[] = [];
  const seen = new Set<string>();
  for (const word of rest.split(' ')) {
    if (word === '') continue;
    const eq = word.indexOf('=');
    const keyword = eq < 0 ? word : word.slice(0, eq);
    const value = eq < 0 ? undefined : word.slice(eq + 1);
    if (!KEYWORD.test(keyword)) return badParam('Invalid parameter syntax');
    if (value !== undefined && !(allowUtf8 ? VALUE_UTF8 : VALUE_ASCII).test(value)) {
      return badParam(`Invalid value for ${keyword.toUpperCase()}`);
    }
    const upper = keyword.toUpperCase();
    if (seen.has(upper)) return badParam(`Duplicate parameter ${upper}`);
    seen.add(upper);
    params.push({ keyword: upper, value });
  }
  return parseOk({ path: args.slice(open + 1, close), params });
}

/**
 * Drops an RFC 5321 source route "@a,@b:" after checking its domains (A-d-l allows
 * only Domains, not address literals). Returns the mailbox text after it.
 */
function stripSourceRoute(path: string, allowUtf8: boolean): ParseResult<string> {
  if (!path.startsWith('@')) return parseOk(path);
  const colon = path.indexOf(':');
  if (colon < 0) return parseError(501, '5.1.3', 'invalid source route');
  for (const hop of path.slice(0, colon).split(',')) {
    if (!hop.startsWith('@')) return parseError(501, '5.1.3', 'invalid source route');
    const domain = parseDomain(hop.slice(1), allowUtf8);
    if (!domain.ok) return parseError(501, '5.1.3', 'invalid source route');
  }
  return parseOk(path.slice(colon + 1));
}

function needValue(param: Param): ParseResult<string> {
  return param.value === undefined ? badParam(`${param.keyword} requires a value`) : parseOk(param.value);
}

/**
 * Parses the arguments of MAIL: "FROM:<a@b.c> SIZE=100 BODY=8BITMIME SMTPUTF8 RET=HDRS ENVID=x+2By".
 * One optional space after the colon is accepted (common clients send it).
 */
export function parseMailFrom(args: string, ext: Extensions): ParseResult<MailFrom> {
  const split = splitArgs(args, 'FROM:', ext.utf8);
  if (!split.ok) return split;
  let size: number | undefined;
  let body: BodyType | undefined;
  let smtputf8 = false;
  let ret: 'FULL' | 'HDRS' | undefined;
  let envid: string | undefined;
  let auth: string | undefined;
  for (const param of split.value.params) {
    switch (param.keyword) {
      case 'SIZE': {
        const value = needValue(param);
        if (!value.ok) return value;
        if (!/^\d+$/.test(value.value) || value.value.length > MAX_SIZE_DIGITS)
          return badParam('Invalid SIZE');
        size = Number(value.value);
        if (size > 2 ** 53) return badParam('Invalid SIZE');
        break;
      }
      case 'BODY': {
        const value = needValue(param);
        if (!value.ok) return value;
        const upper = upperAscii(value.value);
        if (upper === '7BIT' || upper === '8BITMIME') body = upper;
        else if (upper === 'BINARYMIME') return notOffered('BODY=BINARYMIME');
        else return badParam('Invalid BODY');
        break;
      }
      case 'SMTPUTF8':
        if (!ext.utf8) return notOffered(param.keyword);
        if (param.value !== undefined) return badParam('SMTPUTF8 takes no value');
        smtputf8 = true;
        break;
      case 'RET': {
        if (!ext.dsn) return notOffered(param.keyword);
        const value = needValue(param);
        if (!value.ok) return value;
        const upper = upperAscii(value.value);
        if (upper !== 'FULL' && upper !== 'HDRS') return badParam('Invalid RET');
        ret = upper;
        break;
      }
      case 'ENVID': {
        if (!ext.dsn) return notOffered(param.keyword);
        const value = needValue(param);
        if (!value.ok) return value;
        if (value.value.length > MAX_ENVID_LENGTH) return badParam('ENVID too long');
        const decoded = decodeXtext(value.value);
        if (decoded === null) return badParam('Invalid ENVID');
        envid = decoded;
        break;
      }
      case 'AUTH': {
        if (ext.auth === false) return notOffered(param.keyword);
        const value = needValue(param);
        if (!value.ok) return value;
        const decoded = decodeXtext(value.value);
        if (decoded === null) return badParam('Invalid AUTH');
        auth = decoded;
        break;
      }
      default:
        return notOffered(param.keyword);
    }
  }
  let reversePath: Mailbox | null = null;
  if (split.value.path !== '') {
    const allowUtf8 = ext.utf8 && smtputf8;
    const route = stripSourceRoute(split.value.path, allowUtf8);
    const mailbox = route.ok ? parseMailbox(route.value, { allowUtf8 }) : route;
    if (!mailbox.ok) return mailbox.enhanced === '5.1.3' ? { ...mailbox, enhanced: '5.1.7' } : mailbox;
    reversePath = mailbox.value;
  }
  const result: { -readonly [K in keyof MailFrom]: MailFrom[K] } = { reversePath, smtputf8 };
  if (size !== undefined) result.size = size;
  if (body !== undefined) result.body = body;
  if (ret !== undefined) result.ret = ret;
  if (envid !== undefined) result.envid = envid;
  if (auth !== undefined) result.auth = auth;
  return parseOk(result);
}

function parseNotify(value: string): ParseResult<readonly DsnNotify[] | 'NEVER'> {
  const items = upperAscii(value).split(',');
  if (items.length === 1 && items[0] === 'NEVER') return parseOk('NEVER');
  const out: DsnNotify[] = [];
  for (const item of items) {
    if (item !== 'SUCCESS' && item !== 'FAILURE' && item !== 'DELAY') return badParam('Invalid NOTIFY');
    if (out.includes(item)) return badParam('Invalid NOTIFY');
    out.push(item);
  }
  return parseOk(out);
}

function hexDigit(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x46);
}

/**
 * Decodes an RFC 6533 utf-8-addr-xtext / utf-8-addr-unitext: printable ASCII except
 * "+", "=" and "\", raw UTF-8 only when allowUtf8, "\x{HEX}" escapes (upper-case hex,
 * no leading zeros beyond two digits, no surrogates) and, leniently, xtext "+HH" for
 * ASCII octets. Returns null when malformed or when it decodes to a control character.
 */
export function decodeUtf8AddrXtext(text: string, allowUtf8: boolean): string | null {
  let out = '';
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x5c) {
      const close = text.indexOf('}', i);
      if (text[i + 1] !== 'x' || text[i + 2] !== '{' || close < 0) return null;
      const hex = text.slice(i + 3, close);
      if (!/^[0-9A-F]{2,6}$/.test(hex) || (hex.length > 2 && hex[0] === '0')) return null;
      const cp = Number.parseInt(hex, 16);
      if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return null;
      out += String.fromCodePoint(cp);
      i = close;
    } else if (c === 0x2b) {
      if (!hexDigit(text.charCodeAt(i + 1)) || !hexDigit(text.charCodeAt(i + 2))) return null;
      const octet = Number.parseInt(text.slice(i + 1, i + 3), 16);
      if (octet >= 0x80) return null;
      out += String.fromCharCode(octet);
      i += 2;
    } else if (c >= 33 && c <= 126 && c !== 0x3d) {
      out += text[i];
    } else if (c >= 0x80 && allowUtf8) {
      out += text[i];
    } else {
      return null;
    }
  }
  return hasControlChar(out) || hasBadUnicode(out) ? null : out;
}

function parseOrcpt(value: string, allowUtf8: boolean): ParseResult<OriginalRecipient> {
  if (value.length > MAX_ORCPT_LENGTH) return badParam('ORCPT too long');
  const semi = value.indexOf(';');
  const addrType = semi < 0 ? '' : value.slice(0, semi);
  if (!ADDR_TYPE.test(addrType)) return badParam('Invalid ORCPT');
  const type = addrType.toLowerCase();
  const encoded = value.slice(semi + 1);
  let address: string | null;
  if (type === 'utf-8') {
    address = decodeUtf8AddrXtext(encoded, allowUtf8);
  } else {
    address = decodeXtext(encoded);
    if (type === 'rfc822' && address !== null && /[^\u0020-\u007e]/.test(address)) address = null;
  }
  if (address === null || address === '') return badParam('Invalid ORCPT');
  return parseOk({ addrType: type, address });
}

/**
 * Parses the arguments of RCPT: "TO:<x@y> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;x@y".
 * ext.utf8 is whether this transaction's MAIL carried SMTPUTF8.
 */
export function parseRcptTo(args: string, ext: Extensions): ParseResult<RcptTo> {
  const split = splitArgs(args, 'TO:', ext.utf8);
  if (!split.ok) return split;
  let notify: readonly DsnNotify[] | 'NEVER' | undefined;
  let orcpt: OriginalRecipient | undefined;
  for (const param of split.value.params) {
    if ((param.keyword !== 'NOTIFY' && param.keyword !== 'ORCPT') || !ext.dsn)
      return notOffered(param.keyword);
    const value = needValue(param);
    if (!value.ok) return value;
    if (param.keyword === 'NOTIFY') {
      const parsed = parseNotify(value.value);
      if (!parsed.ok) return parsed;
      notify = parsed.value;
    } else {
      const parsed = parseOrcpt(value.value, ext.utf8);
      if (!parsed.ok) return parsed;
      orcpt = parsed.value;
    }
  }
  const path = split.value.path;
  if (path === '') return parseError(501, '5.1.3', 'null recipient not allowed');
  let forwardPath: Mailbox;
  let postmaster = false;
  if (upperAscii(path) === 'POSTMASTER') {
    forwardPath = { local: path, domain: '', addressLiteral: false, utf8: false };
    postmaster = true;
  } else {
    const route = stripSourceRoute(path, ext.utf8);
    const mailbox = route.ok ? parseMailbox(route.value, { allowUtf8: ext.utf8 }) : route;
    if (!mailbox.ok) return mailbox;
    forwardPath = mailbox.value;
  }
  const result: { -readonly [K in keyof RcptTo]: RcptTo[K] } = { forwardPath, postmaster };
  if (notify !== undefined) result.notify = notify;
  if (orcpt !== undefined) result.orcpt = orcpt;
  return parseOk(result);
}
