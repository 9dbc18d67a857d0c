/**
 * Builds the command lines of an outbound transaction and reads the EHLO reply.
 *
 * In: an OutboundTransaction and the server's extensions. Out: MAIL/RCPT lines with the
 * parameters the server offered (SIZE, BODY=8BITMIME, SMTPUTF8; RET/ENVID/NOTIFY/ORCPT
 * only with DSN, xtext-encoded), or the local refusal a transaction gets when the server
 * lacks something it needs (RFC 1870 SIZE, RFC 6152 8BITMIME, RFC 6531 SMTPUTF8).
 *
 * Failure: `validateTransaction` throws a PROTOCOL SmtpClientError (temporary: false)
 * when an address or parameter holds a control character: nothing may inject a line.
 * The EHLO reply is UNTRUSTED: malformed keyword lines are ignored, the count is capped.
 */
import type { SmtpReply } from '../../contracts/status.ts';
import { encodeXtext } from '../../protocol/xtext.ts';
import { SmtpClientError, type SmtpClientPhase } from './errors.ts';
import type { OutboundRecipient, OutboundTransaction } from './types.ts';

const MAX_EXTENSIONS = 100;
const CONTROL = /[\x00-\x1f\x7f]/;
const NON_ASCII = /[^\x00-\x7f]/;
const ADDR_TYPE = /^[A-Za-z0-9][A-Za-z0-9-]{0,63}$/;
const NOTIFY_VALUES = new Set(['SUCCESS', 'FAILURE', 'DELAY']);

/** EHLO reply -> keyword (upper-case) -> parameters. The first line is the server's greeting. */
export function parseExtensions(reply: SmtpReply): Map<string, string> {
  const extensions = new Map<string, string>();
  for (const line of reply.text.split('\n').slice(1)) {
    if (extensions.size >= MAX_EXTENSIONS) break;
    // "AUTH=LOGIN" is an old, still-seen spelling of "AUTH LOGIN".
    const match = /^([A-Za-z0-9][A-Za-z0-9-]*)(?:[ =](.*))?$/.exec(line.trim());
    if (!match) continue;
    const keyword = match[1]!.toUpperCase();
    if (!extensions.has(keyword)) extensions.set(keyword, (match[2] ?? '').trim());
  }
  return extensions;
}

/** The SIZE limit, or undefined when none is announced (absent, no value, or 0). */
export function sizeLimit(extensions: ReadonlyMap<string, string>): number | undefined {
  const value = extensions.get('SIZE');
  if (value === undefined || !/^\d{1,16}$/.test(value)) return undefined;
  const limit = Number(value);
  return limit > 0 ? limit : undefined;
}

export function needsSmtputf8(tx: OutboundTransaction): boolean {
  return tx.smtputf8 || NON_ASCII.test(tx.mailFrom) || tx.recipients.some((r) => NON_ASCII.test(r.address));
}

/** A reply the client makes up when it will not send the transaction at all. */
export function localRefusal(
  tx: OutboundTransaction,
  extensions: ReadonlyMap<string, string>,
): SmtpReply | undefined {
  const limit = sizeLimit(extensions);
  if (limit !== undefined && tx.size > limit) {
    return {
      code: 552,
      enhanced: '5.3.4',
      text: `Message size ${tx.size} exceeds the server's limit of ${limit}`,
    };
  }
  if (tx.eightBit && !extensions.has('8BITMIME')) {
    return { code: 554, enhanced: '5.6.3', text: '8-bit content and the server does not support 8BITMIME' };
  }
  if (needsSmtputf8(tx) && !extensions.has('SMTPUTF8')) {
    return {
      code: 553,
      enhanced: '5.6.7',
      text: 'Internationalized address or header and the server does not support SMTPUTF8',
    };
  }
  return undefined;
}

function refuse(phase: SmtpClientPhase, what: string): never {
  throw new SmtpClientError({
    code: 'PROTOCOL',
    phase,
    message: `refusing to send ${what}: it contains a control character or is malformed`,
    temporary: false,
  });
}

/** Throws before anything is sent if any value could break out of its command line. */
export function validateTransaction(tx: OutboundTransaction): void {
  if (CONTROL.test(tx.mailFrom)) refuse('mail', 'the reverse path');
  if (tx.envid !== undefined && tx.envid.length > 100) refuse('mail', 'ENVID');
  if (!Number.isSafeInteger(tx.size) || tx.size < 0) refuse('mail', 'SIZE');
  if (tx.recipients.length === 0) refuse('rcpt', 'a transaction without recipients');
  for (const recipient of tx.recipients) {
    if (recipient.address === '' || CONTROL.test(recipient.address)) refuse('rcpt', 'a forward path');
    if (
      recipient.orcpt &&
      (!ADDR_TYPE.test(recipient.orcpt.addrType) || CONTROL.test(recipient.orcpt.address))
    ) {
      refuse('rcpt', 'ORCPT');
    }
    const notify = recipient.notify;
    if (notify !== undefined && notify !== 'NEVER') {
      if (notify.length === 0 || notify.some((n) => !NOTIFY_VALUES.has(n))) refuse('rcpt', 'NOTIFY');
    }
  }
}

export function mailCommand(tx: OutboundTransaction, extensions: ReadonlyMap<string, string>): string {
  const params: string[] = [];
  if (extensions.has('SIZE')) params.push(`SIZE=${tx.size}`);
  if (tx.eightBit) params.push('BODY=8BITMIME');
  if (needsSmtputf8(tx)) params.push('SMTPUTF8');
  if (extensions.has('DSN')) {
    if (tx.ret) params.push(`RET=${tx.ret}`);
    if (tx.envid !== undefined && tx.envid !== '') params.push(`ENVID=${encodeXtext(tx.envid)}`);
  }
  return [`MAIL FROM:<${tx.mailFrom}>`, ...params].join(' ');
}

export function rcptCommand(recipient: OutboundRecipient, extensions: ReadonlyMap<string, string>): string {
  const params: string[] = [];
  if (extensions.has('DSN')) {
    if (recipient.notify === 'NEVER') params.push('NOTIFY=NEVER');
    else if (recipient.notify) params.push(`NOTIFY=${recipient.notify.join(',')}`);
    if (recipient.orcpt)
      params.push(`ORCPT=${orcptValue(recipient.orcpt.addrType, recipient.orcpt.address)}`);
  }
  return [`RCPT TO:<${recipient.address}>`, ...params].join(' ');
}

/**
 * RFC 3461 ORCPT value. ASCII addresses: addr-type ";" xtext. Non-ASCII addresses use
 * the RFC 6533 utf-8 type with utf-8-addr-xtext: every character outside QCHAR
 * (including "+", "=", "\" and all non-ASCII) becomes \x{HEX}, which is valid xtext.
 */
export function orcptValue(addrType: string, address: string): string {
  if (!NON_ASCII.test(address) && addrType.toLowerCase() !== 'utf-8') {
    return `${addrType};${encodeXtext(address)}`;
  }
  let out = '';
  for (const char of address) {
    const cp = char.codePointAt(0)!;
    const qchar = cp >= 0x21 && cp <= 0x7e && cp !== 0x2b && cp !== 0x3d && cp !== 0x5c;
    out += qchar ? char : `\\x{${cp.toString(16).toUpperCase()}}`;
  }
  return `utf-8;${out}`;
}
