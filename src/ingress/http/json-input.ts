/**
 * The JSON form of `POST /api/v1/messages`: checks every field the schema could
 * not (addresses, header names and values, base64, DSN options, limits) and
 * builds the MIME message (mime/build.ts).
 *
 * In: a body that already passed `injectBody` (schemas.ts): types, lengths and
 * counts are bounded. Everything here is still UNTRUSTED: CR, LF and NUL (and other
 * controls) are refused in every value that ends up in a header, so no field can
 * add header lines; structural header names cannot be overridden. Out: an
 * `Injection` or a problem naming the field (`to[2]`, `headers.X-Tag`, ...).
 */
import type { DsnNotify, RecipientInput } from '../../contracts/envelope.ts';
import { type AddressInput, controlCharacterReason, parseAddressInput } from './address-input.ts';
import { type InjectionResult, problem, uniqueRecipients } from './injection.ts';
import { buildMime, type MimeAddress, type MimeAttachment } from './mime/build.ts';

export interface JsonInjectBody {
  from: string;
  to: string[];
  cc?: string[];
  bcc?: string[];
  subject: string;
  text?: string;
  html?: string;
  headers?: Record<string, string>;
  attachments?: { filename: string; contentType: string; content: string }[];
  dsn?: { notify?: string[]; ret?: 'FULL' | 'HDRS'; envid?: string };
}

export interface JsonLimits {
  readonly maxMessageSize: number;
  readonly maxRecipients: number;
}

/** Fields the builder writes itself, or that only a relay may add. */
const RESERVED = new Set([
  'date',
  'from',
  'to',
  'cc',
  'bcc',
  'subject',
  'mime-version',
  'received',
  'return-path',
]);
const FIELD_NAME = /^[\x21-\x39\x3b-\x7e]{1,76}$/;
const MESSAGE_ID = /^<[\x21-\x3b\x3d\x3f-\x7e]{1,250}@[\x21-\x3b\x3d\x3f-\x7e]{1,250}>$/;
const CONTENT_TYPE = /^[a-z0-9][a-z0-9!#$&^_.+-]{0,62}\/[a-z0-9][a-z0-9!#$&^_.+-]{0,62}$/i;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

type Checked<T> = { ok: true; value: T } | { ok: false; field: string; detail: string };

function addresses(field: string, list: readonly string[] | undefined): Checked<AddressInput[]> {
  const out: AddressInput[] = [];
  for (const [i, text] of (list ?? []).entries()) {
    const parsed = parseAddressInput(text);
    if (!parsed.ok) return { ok: false, field: `${field}[${i}]`, detail: parsed.reason };
    out.push(parsed.value);
  }
  return { ok: true, value: out };
}

function extraHeaders(headers: Record<string, string> | undefined): Checked<[string, string][]> {
  const out: [string, string][] = [];
  for (const [name, value] of Object.entries(headers ?? {})) {
    const field = `headers.${name}`;
    if (!FIELD_NAME.test(name)) return { ok: false, field, detail: 'not a valid header field name' };
    const lower = name.toLowerCase();
    if (RESERVED.has(lower) || lower.startsWith('content-')) {
      return { ok: false, field, detail: 'set by mxpress (use the matching request field)' };
    }
    const bad = controlCharacterReason(value);
    if (bad !== undefined) return { ok: false, field, detail: bad };
    if (lower === 'message-id' && !MESSAGE_ID.test(value)) {
      return { ok: false, field, detail: 'expected <id-left@id-right>' };
    }
    out.push([name, value]);
  }
  return { ok: true, value: out };
}

function attachments(list: JsonInjectBody['attachments']): Checked<MimeAttachment[]> {
  const out: MimeAttachment[] = [];
  for (const [i, a] of (list ?? []).entries()) {
    const field = `attachments[${i}]`;
    const bad = controlCharacterReason(a.filename);
    if (bad !== undefined) return { ok: false, field: `${field}.filename`, detail: bad };
    if (!CONTENT_TYPE.test(a.contentType)) {
      return { ok: false, field: `${field}.contentType`, detail: 'expected type/subtype without parameters' };
    }
    const base64 = a.content.replace(/[\r\n\t ]+/g, '');
    if (!BASE64.test(base64)) return { ok: false, field: `${field}.content`, detail: 'not valid base64' };
    out.push({
      filename: a.filename,
      contentType: a.contentType.toLowerCase(),
      content: Buffer.from(base64, 'base64'),
    });
  }
  return { ok: true, value: out };
}

function notifyOption(notify: readonly string[] | undefined): Checked<RecipientInput['notify'] | undefined> {
  if (notify === undefined) return { ok: true, value: undefined };
  if (notify.includes('NEVER')) {
    if (notify.length > 1)
      return { ok: false, field: 'dsn.notify', detail: 'NEVER cannot be combined with others' };
    return { ok: true, value: 'NEVER' };
  }
  return { ok: true, value: notify as DsnNotify[] };
}

function mimeAddress(a: AddressInput): MimeAddress {
  return a.name !== undefined ? { name: a.name, mailbox: a.mailbox } : { mailbox: a.mailbox };
}

export function jsonInjection(body: JsonInjectBody, limits: JsonLimits, now: number): InjectionResult {
  const from = parseAddressInput(body.from);
  if (!from.ok) return problem('from', from.reason);
  const to = addresses('to', body.to);
  if (!to.ok) return problem(to.field, to.detail);
  const cc = addresses('cc', body.cc);
  if (!cc.ok) return problem(cc.field, cc.detail);
  const bcc = addresses('bcc', body.bcc);
  if (!bcc.ok) return problem(bcc.field, bcc.detail);
  const all = [...to.value, ...cc.value, ...bcc.value];
  if (all.length === 0) return problem('to', 'at least one recipient (to, cc or bcc) is required');
  if (all.length > limits.maxRecipients) return problem('to', `more than ${limits.maxRecipients} recipients`);
  for (const [field, value] of [
    ['subject', body.subject],
    ['text', body.text],
    ['html', body.html],
  ] as const) {
    if (value === undefined) continue;
    // Bodies may hold line breaks; the subject may not. NUL is refused everywhere.
    const bad =
      field === 'subject'
        ? controlCharacterReason(value)
        : /\0/.test(value)
          ? 'NUL is not allowed'
          : undefined;
    if (bad !== undefined) return problem(field, bad);
    if (field !== 'subject' && !value.isWellFormed())
      return problem(field, 'not well-formed Unicode (lone surrogate)');
  }
  const headers = extraHeaders(body.headers);
  if (!headers.ok) return problem(headers.field, headers.detail);
  const files = attachments(body.attachments);
  if (!files.ok) return problem(files.field, files.detail);
  const notify = notifyOption(body.dsn?.notify);
  if (!notify.ok) return problem(notify.field, notify.detail);
  const envid = body.dsn?.envid;
  if (envid !== undefined && !/^[\x21-\x7e]+$/.test(envid))
    return problem('dsn.envid', 'printable ASCII only');
  const content = buildMime({
    from: mimeAddress(from.value),
    to: to.value.map(mimeAddress),
    cc: cc.value.map(mimeAddress),
    subject: body.subject,
    ...(body.text !== undefined ? { text: body.text } : {}),
    ...(body.html !== undefined ? { html: body.html } : {}),
    headers: headers.value,
    attachments: files.value,
    date: now,
  });
  if (content.length > limits.maxMessageSize) {
    return problem(
      'body',
      `the message would be ${content.length} bytes; the limit is ${limits.maxMessageSize}`,
      413,
    );
  }
  const utf8 = from.value.utf8 || all.some((a) => a.utf8);
  return {
    ok: true,
    value: {
      envelope: {
        mailFrom: from.value.mailbox,
        recipients: uniqueRecipients(
          all.map((a) => a.mailbox),
          notify.value,
        ),
        // Everything built here is 7-bit except UTF-8 addresses in the header (RFC 6532).
        bodyType: utf8 ? '8BITMIME' : '7BIT',
        smtputf8: utf8,
        ...(body.dsn?.ret !== undefined ? { ret: body.dsn.ret } : {}),
        ...(envid !== undefined ? { envid } : {}),
      },
      content,
    },
  };
}
