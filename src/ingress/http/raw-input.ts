/**
 * The raw form of `POST /api/v1/messages`: `content-type: message/rfc822`, the
 * envelope in `?from=&to=` (to repeated or comma-separated), the body the message.
 *
 * In: UNTRUSTED bytes and query values (bounded by the route schema and body
 * limit). Out: an `Injection` or a problem naming the field. The bytes get the
 * checks SMTP DATA gets (protocol/content-checker.ts): line endings made CRLF (a
 * bare LF or CR becomes CRLF), NUL refused, line and header-section length and
 * message size limited. The content is otherwise passed on as is; it is 8BITMIME
 * when any octet is non-ASCII.
 */
import { ContentChecker } from '../../protocol/content-checker.ts';
import { controlCharacterReason, parseAddressInput } from './address-input.ts';
import { type InjectionResult, problem, uniqueRecipients } from './injection.ts';

export interface RawLimits {
  readonly maxMessageSize: number;
  readonly maxRecipients: number;
  readonly maxLineLength: number;
  readonly maxHeaderBytes: number;
}

const VIOLATIONS = {
  nul: 'contains a NUL octet',
  'line-too-long': 'has a line longer than the limit',
  'header-too-big': 'has a header section larger than the limit',
  'bare-lf': 'has a bare LF',
  'bare-cr': 'has a bare CR',
} as const;

function bareAddress(
  field: string,
  text: string,
): { ok: true; mailbox: string; utf8: boolean } | { ok: false; field: string; detail: string } {
  const parsed = parseAddressInput(text);
  if (!parsed.ok) return { ok: false, field, detail: parsed.reason };
  if (parsed.value.name !== undefined)
    return { ok: false, field, detail: 'an envelope address takes no display name' };
  return { ok: true, mailbox: parsed.value.mailbox, utf8: parsed.value.utf8 };
}

export function rawInjection(
  query: { from: string; to: string[] },
  body: Buffer,
  limits: RawLimits,
): InjectionResult {
  let mailFrom = '';
  let utf8 = false;
  if (query.from !== '' && query.from !== '<>') {
    const from = bareAddress('from', query.from);
    if (!from.ok) return problem(from.field, from.detail);
    mailFrom = from.mailbox;
    utf8 = from.utf8;
  }
  const texts = query.to.flatMap((t) => t.split(',')).map((t) => t.trim());
  if (texts.length > limits.maxRecipients)
    return problem('to', `more than ${limits.maxRecipients} recipients`);
  const mailboxes: string[] = [];
  for (const [i, text] of texts.entries()) {
    const bad = controlCharacterReason(text);
    if (bad !== undefined) return problem(`to[${i}]`, bad);
    const to = bareAddress(`to[${i}]`, text);
    if (!to.ok) return problem(to.field, to.detail);
    mailboxes.push(to.mailbox);
    utf8 ||= to.utf8;
  }
  if (body.length === 0) return problem('body', 'is empty; send the message as the request body');
  if (body.length > limits.maxMessageSize) {
    return problem('body', `${body.length} bytes; the limit is ${limits.maxMessageSize}`, 413);
  }
  const checker = new ContentChecker({
    policy: 'normalize',
    maxBytes: limits.maxMessageSize,
    maxLineLength: limits.maxLineLength,
    maxHeaderBytes: limits.maxHeaderBytes,
  });
  const kept = checker.push(body);
  checker.end();
  const violation = checker.violation;
  if (violation === 'too-big') {
    return problem(
      'body',
      `${checker.size} bytes with CRLF line endings; the limit is ${limits.maxMessageSize}`,
      413,
    );
  }
  if (violation !== undefined) return problem('body', VIOLATIONS[violation]);
  // A message must end with a line ending for SMTP; add the last CRLF if missing.
  const ended =
    kept.length === 0 || kept.subarray(-2).equals(Buffer.from('\r\n'))
      ? kept
      : Buffer.concat([kept, Buffer.from('\r\n')]);
  const eightBit = ended.some((b) => b >= 0x80);
  return {
    ok: true,
    value: {
      envelope: {
        mailFrom,
        recipients: uniqueRecipients(mailboxes, undefined),
        bodyType: eightBit ? '8BITMIME' : '7BIT',
        smtputf8: utf8,
      },
      content: ended,
    },
  };
}
