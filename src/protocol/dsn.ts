/**
 * Delivery status notifications: the bytes of an RFC 3464 report (RFC 6522
 * multipart/report), with RFC 6533 for internationalized mail.
 *
 * In: what happened to some recipients of one message, the original message bytes
 * and our host name. Out: a complete RFC 5322 message, CRLF canonical, every line at
 * most 998 octets, with a human-readable part, a machine-readable delivery-status
 * part and the original (whole for RET=FULL when it fits and is clean, else only its
 * header section, and the text says so).
 *
 * Pure apart from a random boundary when no `boundarySeed` is given. The remote's
 * reply text, the ENVID, addresses and the original message are UNTRUSTED: control
 * characters are removed, line breaks never pass through, non-ASCII is replaced in
 * the ASCII report types, long values are folded or cut. Throws a TypeError only for
 * impossible input (no recipients, no sender to report to). Cleaning and folding
 * helpers live in dsn-text.ts.
 */
import { randomBytes } from 'node:crypto';
import {
  cleanHost,
  cleanLine,
  field,
  HARD_CHUNK,
  hasNonAscii,
  rfc5322Date,
  utf8AddrEscape,
  wrap,
} from './dsn-text.ts';
import { scanHeaders } from './header-scan.ts';

export type DsnAction = 'failed' | 'delayed' | 'delivered' | 'relayed' | 'expanded';

export interface DsnRecipient {
  /** The address we tried, as `local@domain` (written as `rfc822; ...` or `utf-8; ...`). */
  readonly finalRecipient: string;
  /** From ORCPT (already xtext-decoded). */
  readonly originalRecipient?: { readonly addrType: string; readonly address: string };
  readonly action: DsnAction;
  /** RFC 3463 `x.y.z`; a malformed one is replaced by the action's generic code. */
  readonly status: string;
  /** Host name of the remote MTA (`mx.example.org`) or an already typed `dns; mx.example.org`. */
  readonly remoteMta?: string;
  /** The remote's own reply: `Diagnostic-Code: smtp; 550 5.1.1 ...`. */
  readonly diagnostic?: { readonly code: number; readonly enhanced?: string; readonly text: string };
  readonly lastAttemptAt?: number;
  /** Only written for `delayed` (RFC 3464 2.3.9). */
  readonly willRetryUntil?: number;
  /** One plain-language line for the human-readable part. */
  readonly explanation?: string;
}

export interface DsnInput {
  /** Our host name. */
  readonly reportingMta: string;
  /** Queue id of the original message. */
  readonly messageId: string;
  readonly arrivalDate: number;
  readonly envid?: string;
  /** The sender the report goes to (never empty). */
  readonly originalFrom: string;
  readonly recipients: readonly DsnRecipient[];
  readonly ret: 'FULL' | 'HDRS';
  /** The original message bytes, CRLF canonical. */
  readonly original: Uint8Array;
  readonly smtputf8: boolean;
  readonly now: number;
  /** Makes the boundary and Message-ID deterministic (tests); random when absent. */
  readonly boundarySeed?: string;
  /** Attach at most this much of a FULL original (default 256 KB), else headers only. */
  readonly maxOriginalBytes?: number;
}

export const DEFAULT_MAX_ORIGINAL_BYTES = 256 * 1024;
const MAX_EXPLANATION_CHARS = 1000;
const MAX_LISTED = 100; // recipients listed in the human-readable part
const STATUS = /^[245]\.\d{1,3}\.\d{1,3}$/;
const GENERIC_STATUS: Record<DsnAction, string> = {
  failed: '5.0.0',
  delayed: '4.0.0',
  delivered: '2.0.0',
  relayed: '2.0.0',
  expanded: '2.0.0',
};

type OriginalNote = 'none' | 'too-large' | 'unclean';

export function buildDsn(input: DsnInput): { body: Buffer; subject: string } {
  if (input.recipients.length === 0) throw new TypeError('a DSN needs at least one recipient');
  if (cleanLine(input.originalFrom, true) === '') throw new TypeError('a DSN needs a sender to report to');
  const global = input.smtputf8 || usesNonAscii(input);
  const host = cleanHost(input.reportingMta);
  const max = input.maxOriginalBytes ?? DEFAULT_MAX_ORIGINAL_BYTES;
  const attached = attachOriginal(input.original, input.ret, max);
  const subject = subjectFor(input.recipients);
  const seed =
    (input.boundarySeed ?? '').replace(/[^A-Za-z0-9]/g, '').slice(0, 40) || randomBytes(12).toString('hex');

  const text = humanText(input, host, attached.note, max);
  const status = deliveryStatus(input, host, global);
  const parts: { headers: string; content: Buffer }[] = [
    { headers: partHeaders(textType(text), 'Notification', text), content: Buffer.from(text, 'utf8') },
    {
      headers: partHeaders(
        global ? 'message/global-delivery-status' : 'message/delivery-status',
        'Delivery report',
        status,
      ),
      content: Buffer.from(status, 'utf8'),
    },
    {
      headers: partHeaders(
        attachedType(attached.full, input.smtputf8),
        attached.description,
        attached.content,
      ),
      content: attached.content,
    },
  ];
  const boundary = pickBoundary(`mxpress=_${seed}`, parts);
  const messageIdToken = `${input.messageId.replace(/[^A-Za-z0-9]/g, '').slice(0, 40)}.${seed}`;
  const top =
    'From: Mail Delivery System <MAILER-DAEMON@' +
    host +
    '>\r\n' +
    field('To', `<${cleanLine(input.originalFrom, global)}>`) +
    `Subject: ${subject}\r\n` +
    `Date: ${rfc5322Date(input.now)}\r\n` +
    `Message-ID: <dsn.${messageIdToken}@${host}>\r\n` +
    'Auto-Submitted: auto-replied\r\n' +
    'MIME-Version: 1.0\r\n' +
    'Content-Type: multipart/report; report-type=delivery-status;\r\n' +
    `\tboundary="${boundary}"\r\n` +
    '\r\n' +
    'This is a MIME-formatted delivery report.\r\n';
  const chunks: Buffer[] = [Buffer.from(top, 'utf8')];
  for (const part of parts) {
    chunks.push(Buffer.from(`\r\n--${boundary}\r\n${part.headers}\r\n`, 'utf8'), part.content);
  }
  chunks.push(Buffer.from(`\r\n--${boundary}--\r\n`, 'ascii'));
  return { body: Buffer.concat(chunks), subject };
}

function subjectFor(recipients: readonly DsnRecipient[]): string {
  if (recipients.some((r) => r.action === 'failed')) return 'Undelivered Mail Returned to Sender';
  if (recipients.some((r) => r.action === 'delayed')) return 'Delayed Mail (still being retried)';
  return 'Successful Mail Delivery Report';
}

function usesNonAscii(input: DsnInput): boolean {
  return (
    hasNonAscii(input.originalFrom) ||
    input.recipients.some(
      (r) =>
        hasNonAscii(r.finalRecipient) ||
        (r.originalRecipient !== undefined && hasNonAscii(r.originalRecipient.address)),
    )
  );
}

// ---- the machine-readable part -------------------------------------------------

function deliveryStatus(input: DsnInput, host: string, global: boolean): string {
  let out = field('Reporting-MTA', `dns; ${host}`);
  out += field('X-Mxpress-Queue-ID', cleanLine(input.messageId, false, 100));
  const envid = input.envid === undefined ? '' : cleanLine(input.envid, global, 200);
  if (envid) out += field('Original-Envelope-Id', envid);
  out += field('Arrival-Date', rfc5322Date(input.arrivalDate));
  for (const r of input.recipients) {
    out += '\r\n';
    if (r.originalRecipient) out += field('Original-Recipient', typedAddress(r.originalRecipient, global));
    out += field('Final-Recipient', typedAddress({ addrType: 'rfc822', address: r.finalRecipient }, global));
    out += field('Action', r.action);
    out += field('Status', statusOf(r));
    if (r.remoteMta) out += field('Remote-MTA', remoteMta(r.remoteMta));
    const diagnostic = diagnosticText(r, global);
    if (diagnostic) out += field('Diagnostic-Code', `smtp; ${diagnostic}`);
    if (r.lastAttemptAt !== undefined) out += field('Last-Attempt-Date', rfc5322Date(r.lastAttemptAt));
    if (r.action === 'delayed' && r.willRetryUntil !== undefined) {
      out += field('Will-Retry-Until', rfc5322Date(r.willRetryUntil));
    }
  }
  return out;
}

function statusOf(r: DsnRecipient): string {
  return STATUS.test(r.status) ? r.status : GENERIC_STATUS[r.action];
}

function remoteMta(text: string): string {
  const typed = /^([A-Za-z0-9-]{1,20})\s*;\s*(.*)$/.exec(text);
  if (typed) return `${typed[1]}; ${cleanHost(typed[2] ?? '')}`;
  return `dns; ${cleanHost(text)}`;
}

function diagnosticText(r: DsnRecipient, utf8: boolean): string {
  const d = r.diagnostic;
  if (!d || !Number.isInteger(d.code) || d.code < 200 || d.code > 599) return '';
  const enhanced = d.enhanced !== undefined && STATUS.test(d.enhanced) ? ` ${d.enhanced}` : '';
  const text = cleanLine(d.text, utf8);
  return `${d.code}${enhanced}${text ? ` ${text}` : ''}`;
}

/**
 * `addr-type; address`. ASCII addresses stay `rfc822`; a non-ASCII address (only in
 * the global report) is `utf-8` with RFC 6533 escapes for controls, space, `\`, `+`, `=`.
 */
function typedAddress(a: { readonly addrType: string; readonly address: string }, global: boolean): string {
  let type =
    a.addrType
      .replace(/[^A-Za-z0-9-]/g, '')
      .slice(0, 20)
      .toLowerCase() || 'rfc822';
  if (hasNonAscii(a.address)) type = 'utf-8';
  if (type === 'utf-8') return `utf-8; ${utf8AddrEscape(a.address, global)}`;
  return `${type}; ${cleanLine(a.address, false, 500)}`;
}

// ---- the human-readable part ---------------------------------------------------

const INTRO: Record<DsnAction, string> = {
  failed:
    'Your message could not be delivered to the recipients below. This is final: no further attempts will be made.',
  delayed:
    'Your message has not yet reached the recipients below. Delivery is still being retried; you do not need to do anything yet.',
  delivered: 'Your message was delivered to the recipients below.',
  relayed:
    'Your message was handed on for the recipients below to a mail system that does not send delivery reports, so this is the last report you will get for them.',
  expanded:
    'Your message was delivered to the recipients below, which are lists or aliases that passed it on further.',
};

const LAST_RESORT =
  'If that does not help, reach the recipient another way or ask your mail administrator, quoting the queue id above.';

/**
 * The closing advice for a group: it points at the advice given with each recipient
 * when every one has some, and mentions typing mistakes only when an address was
 * refused (RFC 3463 X.1.X: addressing status).
 */
function advice(action: DsnAction, group: readonly DsnRecipient[]): string | undefined {
  if (action === 'delayed')
    return 'What you can do: nothing for now. If the message cannot be delivered before the time shown, you will get a final report.';
  if (action !== 'failed') return undefined;
  if (group.every((r) => r.explanation)) {
    return `What you can do: follow the advice given with each recipient above. ${LAST_RESORT}`;
  }
  if (group.some((r) => /^5\.1\./.test(statusOf(r)))) {
    return `What you can do: check the addresses above for typing mistakes. ${LAST_RESORT}`;
  }
  return `What you can do: read the server's answer quoted above, which names the problem. ${LAST_RESORT}`;
}

const ORDER: readonly DsnAction[] = ['failed', 'delayed', 'delivered', 'relayed', 'expanded'];

/** UTF-8 is allowed here even in an ASCII report: the remote's words are worth more than `?`. */
function humanText(input: DsnInput, host: string, note: OriginalNote, max: number): string {
  const utf8 = true;
  const headers = scanHeaders(
    Buffer.from(input.original.buffer, input.original.byteOffset, input.original.byteLength),
  );
  const queueId = cleanLine(input.messageId, false, 100);
  let out = wrap(
    `This report comes from the mail server ${host}. It is about the message you sent, which arrived here on ${rfc5322Date(input.arrivalDate)} (queue id ${queueId}).`,
    '',
    '',
  );
  const originalSubject = cleanLine(headers.fields.subject ?? '', utf8, 200);
  if (originalSubject) out += wrap(`Its subject: ${originalSubject}`, '', '  ');
  for (const action of ORDER) {
    const group = input.recipients.filter((r) => r.action === action);
    if (group.length === 0) continue;
    out += `\r\n${wrap(INTRO[action], '', '')}\r\n`;
    for (const r of group.slice(0, MAX_LISTED)) out += recipientText(r, utf8);
    if (group.length > MAX_LISTED) {
      out += wrap(
        `... and ${group.length - MAX_LISTED} more, listed in the delivery-status part.`,
        '  ',
        '  ',
      );
    }
    const closing = advice(action, group);
    if (closing) out += `\r\n${wrap(closing, '', '')}`;
  }
  if (note === 'too-large') {
    out += `\r\n${wrap(`The original message is larger than ${max} bytes, so only its header section is attached.`, '', '')}`;
  } else if (note === 'unclean') {
    out += `\r\n${wrap('The original message could not be attached unchanged, so only its header section is attached.', '', '')}`;
  }
  return out;
}

function recipientText(r: DsnRecipient, utf8: boolean): string {
  let out = wrap(`<${cleanLine(r.finalRecipient, utf8, 500)}>`, '  ', '    ');
  if (r.originalRecipient && r.originalRecipient.address !== r.finalRecipient) {
    out += wrap(
      `originally addressed to ${cleanLine(r.originalRecipient.address, utf8, 500)}`,
      '    ',
      '      ',
    );
  }
  if (r.remoteMta)
    out += wrap(`Mail server: ${remoteMta(r.remoteMta).replace(/^dns; /, '')}`, '    ', '      ');
  if (r.diagnostic) {
    const lines = r.diagnostic.text.split('\n').slice(0, 20);
    const head = diagnosticText({ ...r, diagnostic: { ...r.diagnostic, text: lines[0] ?? '' } }, utf8);
    if (head) {
      out += wrap(`It answered: ${head}`, '    ', '      ');
      for (const line of lines.slice(1)) {
        const more = cleanLine(line, utf8);
        if (more) out += wrap(more, '      ', '      ');
      }
    }
  }
  if (r.explanation) out += wrap(cleanLine(r.explanation, utf8, MAX_EXPLANATION_CHARS), '    ', '    ');
  if (r.action === 'delayed' && r.willRetryUntil !== undefined) {
    out += wrap(`Retrying until: ${rfc5322Date(r.willRetryUntil)}`, '    ', '    ');
  }
  return out;
}

// ---- the original --------------------------------------------------------------

function attachOriginal(
  original: Uint8Array,
  ret: 'FULL' | 'HDRS',
  max: number,
): { full: boolean; content: Buffer; description: string; note: OriginalNote } {
  const bytes = Buffer.from(original.buffer, original.byteOffset, original.byteLength);
  if (ret === 'FULL') {
    if (bytes.length > max) return headersOnly(bytes, max, 'too-large');
    if (!isClean(bytes)) return headersOnly(bytes, max, 'unclean');
    return { full: true, content: bytes, description: 'Undelivered message', note: 'none' };
  }
  return headersOnly(bytes, max, 'none');
}

function headersOnly(bytes: Buffer, max: number, note: OriginalNote): ReturnType<typeof attachOriginal> {
  const scan = scanHeaders(bytes);
  let text = bytes.subarray(0, scan.headerBytes).toString('latin1');
  text = text.replace(/\r\n|\r|\n/g, '\r\n').replace(/\x00/g, '');
  if (text.endsWith('\r\n\r\n')) text = text.slice(0, -2);
  const lines = text.split('\r\n');
  if (lines.at(-1) === '') lines.pop();
  let out = '';
  for (const line of lines) {
    // Over-long header lines are cut into continuation lines (byte positions: latin1 view).
    let rest = line;
    let piece = '';
    while (rest.length > HARD_CHUNK) {
      piece += `${rest.slice(0, HARD_CHUNK)}\r\n `;
      rest = rest.slice(HARD_CHUNK);
    }
    piece += `${rest}\r\n`;
    if (out.length + piece.length > max) break;
    out += piece;
  }
  return { full: false, content: Buffer.from(out, 'latin1'), description: 'Message headers', note };
}

/** True when the bytes can go into a MIME part as they are: CRLF only, no NUL, lines <= 998 octets. */
function isClean(bytes: Buffer): boolean {
  let lineStart = 0;
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i]!;
    if (b === 0) return false;
    if (b === 0x0d) {
      if (bytes[i + 1] !== 0x0a) return false;
      if (i - lineStart > 998) return false;
      i++;
      lineStart = i + 1;
    } else if (b === 0x0a) {
      return false;
    }
  }
  return bytes.length - lineStart <= 998;
}

function attachedType(full: boolean, smtputf8: boolean): string {
  if (full) return smtputf8 ? 'message/global' : 'message/rfc822';
  return smtputf8 ? 'message/global-headers' : 'text/rfc822-headers';
}

// ---- MIME assembly -------------------------------------------------------------

function textType(text: string): string {
  return hasNonAscii(text) ? 'text/plain; charset=utf-8' : 'text/plain; charset=us-ascii';
}

function partHeaders(type: string, description: string, content: string | Buffer): string {
  const eightBit = typeof content === 'string' ? hasNonAscii(content) : content.some((b) => b >= 0x80);
  return (
    `Content-Type: ${type}\r\nContent-Description: ${description}\r\n` +
    (eightBit ? 'Content-Transfer-Encoding: 8bit\r\n' : '')
  );
}

/** The boundary must not occur in any part; a suffix is added until it does not. */
function pickBoundary(base: string, parts: readonly { content: Buffer }[]): string {
  for (let n = 0; ; n++) {
    const candidate = n === 0 ? base : `${base}_${n}`;
    if (!parts.some((p) => p.content.includes(`--${candidate}`))) return candidate;
  }
}
