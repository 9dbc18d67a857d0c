/**
 * The message side of `mxpress sendmail`: reads the message the way sendmail
 * does (a lone "." line ends it unless -i), turns any line ending into CRLF,
 * takes recipients from To/Cc/Bcc for -t (removing Bcc), and adds From and Date
 * when the message has none.
 *
 * In: the raw text from stdin (UNTRUSTED: any bytes, any length up to the caller's
 * limit). Out: the CRLF message and the header addresses. Pure: no I/O; throws
 * nothing for odd input (an address it cannot read is simply not taken).
 */

/** Splits on LF, CRLF or a lone CR; stops at a lone "." line unless `ignoreDots`. */
export function toCrlf(raw: string, ignoreDots: boolean): string {
  const lines = raw.split(/\r\n|\r|\n/);
  if (lines.at(-1) === '') lines.pop();
  const out: string[] = [];
  for (const line of lines) {
    if (!ignoreDots && line === '.') break;
    out.push(line);
  }
  return out.length === 0 ? '' : `${out.join('\r\n')}\r\n`;
}

interface Split {
  readonly headers: string[];
  readonly body: string;
}

/** Header fields (each unfolded-in-place, CRLF-joined continuation kept) and the rest. */
function split(message: string): Split {
  const end = message.indexOf('\r\n\r\n');
  const head = end === -1 ? message : message.slice(0, end + 2);
  const body = end === -1 ? '' : message.slice(end + 2);
  // Without any header-looking first line, the whole input is body (sendmail does the same).
  if (!/^[!-9;-~]+:/.test(head)) return { headers: [], body: message };
  const headers: string[] = [];
  for (const line of head.split('\r\n')) {
    if (line === '') continue;
    if (/^[ \t]/.test(line) && headers.length > 0) headers[headers.length - 1] += `\r\n${line}`;
    else headers.push(line);
  }
  return { headers, body };
}

function nameOf(field: string): string {
  return field
    .slice(0, Math.max(0, field.indexOf(':')))
    .trim()
    .toLowerCase();
}

/** Addresses in an address-list header value: `a@b, "X, Y" <c@d>, group: e@f;`. */
export function addressesIn(value: string): string[] {
  const unfolded = value.replace(/\r\n[ \t]/g, ' ').replace(/\([^()]*\)/g, ' ');
  const parts: string[] = [];
  let current = '';
  let quoted = false;
  let angle = false;
  for (const ch of unfolded) {
    if (ch === '"') quoted = !quoted;
    else if (!quoted && ch === '<') angle = true;
    else if (!quoted && ch === '>') angle = false;
    if (!quoted && !angle && (ch === ',' || ch === ';')) {
      parts.push(current);
      current = '';
    } else current += ch;
  }
  parts.push(current);
  const out: string[] = [];
  for (const part of parts) {
    const angled = /<([^<>]*)>/.exec(part);
    let candidate = angled ? angled[1]! : part.replace(/^[^"]*?:(?=[^:]*$)/, '');
    candidate = candidate.trim();
    if (/^[^\s@<>",;:]+@[^\s@<>",;:]+$/.test(candidate)) out.push(candidate);
  }
  return out;
}

export interface PreparedMessage {
  readonly message: string;
  /** Addresses from To, Cc and Bcc (only filled when `takeRecipients`). */
  readonly headerRecipients: readonly string[];
}

export interface PrepareOptions {
  readonly takeRecipients: boolean;
  readonly sender: string;
  readonly fullName?: string;
  readonly now: Date;
}

function quoteName(name: string): string {
  const safe = name.replace(/[\r\n]/g, ' ');
  return /^[\w .'-]*$/.test(safe) ? safe : `"${safe.replace(/(["\\])/g, '\\$1')}"`;
}

/** Takes -t recipients, drops Bcc, adds From and Date when missing. */
export function prepareMessage(crlf: string, options: PrepareOptions): PreparedMessage {
  const { headers, body } = split(crlf);
  const recipients: string[] = [];
  const kept: string[] = [];
  for (const field of headers) {
    const name = nameOf(field);
    if (options.takeRecipients && (name === 'to' || name === 'cc' || name === 'bcc')) {
      recipients.push(...addressesIn(field.slice(field.indexOf(':') + 1)));
    }
    if (name === 'bcc') continue;
    kept.push(field);
  }
  const has = (n: string): boolean => kept.some((f) => nameOf(f) === n);
  if (!has('from')) {
    const name = options.fullName ? `${quoteName(options.fullName)} ` : '';
    kept.push(`From: ${name}<${options.sender}>`);
  }
  if (!has('date')) kept.push(`Date: ${options.now.toUTCString().replace('GMT', '+0000')}`);
  const message = `${kept.join('\r\n')}\r\n\r\n${body.startsWith('\r\n') ? body.slice(2) : body}`;
  return { message, headerRecipients: recipients };
}
