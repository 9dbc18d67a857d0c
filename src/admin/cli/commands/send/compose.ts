/**
 * What `mxpress send` submits: one JSON message built from flags, one raw .eml
 * file, or one raw message per CSV row from a template with `{{column}}`
 * placeholders.
 *
 * In: flag values and file contents (the CSV, template and .eml are UNTRUSTED
 * text: bounded row count and size; a placeholder naming no column is an error,
 * never left in the mail). Out: `Submission`s. Throws `ComposeProblem` naming the
 * file, row or flag. Pure apart from reading the files the caller names.
 */
import { readFile } from 'node:fs/promises';
import { basename, extname } from 'node:path';
import { addressesIn, prepareMessage, toCrlf } from '../sendmail/message.ts';

export class ComposeProblem extends Error {}

export const MAX_ROWS = 10_000;
const MAX_FILE = 50 * 1024 * 1024;

export type Submission =
  | { readonly kind: 'json'; readonly label: string; readonly body: JsonMessage }
  | {
      readonly kind: 'raw';
      readonly label: string;
      readonly from: string;
      readonly to: readonly string[];
      readonly message: Buffer;
    };

export interface JsonMessage {
  from: string;
  to: string[];
  subject: string;
  text?: string;
  html?: string;
  attachments?: { filename: string; contentType: string; content: string }[];
}

const TYPES: Readonly<Record<string, string>> = {
  '.txt': 'text/plain',
  '.csv': 'text/csv',
  '.html': 'text/html',
  '.pdf': 'application/pdf',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.gif': 'image/gif',
  '.json': 'application/json',
  '.zip': 'application/zip',
  '.ics': 'text/calendar',
};

async function readBounded(path: string, what: string): Promise<Buffer> {
  let data: Buffer;
  try {
    data = await readFile(path);
  } catch (error) {
    throw new ComposeProblem(
      `${what}: cannot read ${path} (${(error as NodeJS.ErrnoException).code ?? 'error'})`,
    );
  }
  if (data.length > MAX_FILE) throw new ComposeProblem(`${what}: ${path} is larger than ${MAX_FILE} bytes`);
  return data;
}

export interface FlagMessage {
  readonly from?: string | undefined;
  readonly to: readonly string[];
  readonly subject?: string | undefined;
  readonly text?: string | undefined;
  readonly html?: string | undefined;
  readonly attach: readonly string[];
}

export async function fromFlags(flags: FlagMessage): Promise<Submission> {
  if (flags.from === undefined) throw new ComposeProblem('--from is required');
  if (flags.to.length === 0) throw new ComposeProblem('--to is required');
  if (flags.text === undefined && flags.html === undefined) throw new ComposeProblem('give --text or --html');
  const attachments = [];
  for (const path of flags.attach) {
    const content = await readBounded(path, '--attach');
    attachments.push({
      filename: basename(path),
      contentType: TYPES[extname(path).toLowerCase()] ?? 'application/octet-stream',
      content: content.toString('base64'),
    });
  }
  const body: JsonMessage = {
    from: flags.from,
    to: [...flags.to],
    subject: flags.subject ?? '',
    ...(flags.text !== undefined ? { text: flags.text } : {}),
    ...(flags.html !== undefined ? { html: flags.html } : {}),
    ...(attachments.length > 0 ? { attachments } : {}),
  };
  return { kind: 'json', label: 'message', body };
}

/** A raw message: recipients from `to` or else To/Cc/Bcc (Bcc removed); sender from `from` or From. */
export function rawSubmission(
  text: string,
  encoding: 'latin1' | 'utf8',
  label: string,
  from?: string,
  to: readonly string[] = [],
): Submission {
  const prepared = prepareMessage(toCrlf(text, true), {
    takeRecipients: to.length === 0,
    sender: from ?? 'unknown@invalid',
    now: new Date(),
  });
  const fromHeader = /^From:(.*(?:\r\n[ \t].*)*)/im.exec(prepared.message)?.[1];
  const sender = from ?? (fromHeader !== undefined ? addressesIn(fromHeader)[0] : undefined);
  if (sender === undefined) throw new ComposeProblem(`${label}: no From address (give --from)`);
  const recipients = to.length > 0 ? [...to] : [...new Set(prepared.headerRecipients)];
  if (recipients.length === 0)
    throw new ComposeProblem(`${label}: no recipients (give --to, or To/Cc/Bcc headers)`);
  return {
    kind: 'raw',
    label,
    from: sender,
    to: recipients,
    message: Buffer.from(prepared.message, encoding),
  };
}

export async function fromEml(path: string, from?: string, to: readonly string[] = []): Promise<Submission> {
  const text = (await readBounded(path, '--eml')).toString('latin1');
  return rawSubmission(text, 'latin1', path, from, to);
}

/** RFC 4180 CSV: quoted fields with "" escapes, CRLF or LF rows; a header row first. */
export function parseCsv(text: string): Record<string, string>[] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (ch === '"') quoted = false;
      else field += ch;
    } else if (ch === '"' && field === '') quoted = true;
    else if (ch === ',') {
      row.push(field);
      field = '';
    } else if (ch === '\n' || ch === '\r') {
      if (ch === '\r' && text[i + 1] === '\n') i++;
      row.push(field);
      field = '';
      if (row.some((f) => f !== '')) rows.push(row);
      row = [];
      if (rows.length > MAX_ROWS + 1) throw new ComposeProblem(`--csv: more than ${MAX_ROWS} rows`);
    } else field += ch;
  }
  row.push(field);
  if (row.some((f) => f !== '')) rows.push(row);
  if (quoted) throw new ComposeProblem('--csv: a quoted field is not closed');
  const [header, ...data] = rows;
  if (header === undefined) throw new ComposeProblem('--csv: the file is empty');
  const names = header.map((h) => h.trim());
  if (data.length > MAX_ROWS) throw new ComposeProblem(`--csv: more than ${MAX_ROWS} rows`);
  return data.map((cells) => Object.fromEntries(names.map((n, i) => [n, cells[i] ?? ''])));
}

/** `{{column}}` replaced by the row's value (CR/LF removed so no value can add a header line). */
export function fillTemplate(template: string, row: Readonly<Record<string, string>>, where: string): string {
  return template.replace(/\{\{\s*([^{}\s]+)\s*\}\}/g, (_all, name: string) => {
    const value = row[name];
    if (value === undefined)
      throw new ComposeProblem(`${where}: the template uses {{${name}}}, not a CSV column`);
    return value.replace(/[\r\n]+/g, ' ');
  });
}

/** The recipient column: `email`, `to` or `address` (any case). */
function recipientColumn(row: Readonly<Record<string, string>>): string | undefined {
  return Object.keys(row).find((k) => ['email', 'to', 'address', 'recipient'].includes(k.toLowerCase()));
}

export async function fromCsv(csvPath: string, templatePath: string, from?: string): Promise<Submission[]> {
  const rows = parseCsv((await readBounded(csvPath, '--csv')).toString('utf8'));
  const template = (await readBounded(templatePath, '--template')).toString('utf8');
  const column = rows[0] === undefined ? undefined : recipientColumn(rows[0]);
  if (column === undefined) throw new ComposeProblem('--csv: needs an "email" (or "to") column');
  return rows.map((row, i) => {
    const where = `${csvPath} row ${i + 2}`;
    const address = row[column]!.trim();
    if (!/^[^\s@]+@[^\s@]+$/.test(address))
      throw new ComposeProblem(`${where}: "${address}" is not an address`);
    return rawSubmission(fillTemplate(template, row, where), 'utf8', where, from, [address]);
  });
}
