/**
 * Suppression list files: parsing CSV (RFC 4180) and JSON-lines imports, writing CSV.
 *
 * In: the text of an import (UNTRUSTED operator input, already bounded in size by
 * the caller) and a function that validates an address into its key. Out: the
 * entries, last line winning for repeated addresses, and line-numbered problems
 * (at most 20 kept, all counted). Never throws on bad input; pure, no I/O.
 *
 * CSV: an optional header naming columns among address, reason, message_id,
 * created_at, expires_at; without a header the columns are address[,reason[,expires_at]].
 * Quoted fields may hold commas, `""` and line breaks. JSON lines: one object per
 * line with `address` and optionally `reason`, `messageId`, `createdAt`, `expiresAt`
 * (what the export writes). Times are epoch milliseconds or ISO 8601 text.
 */
import type { SuppressionEntry } from '../contracts/feedback-store.ts';

export type SuppressionFormat = 'csv' | 'jsonl';

const MAX_PROBLEMS = 20;
const COLUMNS = ['address', 'reason', 'message_id', 'created_at', 'expires_at'] as const;
type Column = (typeof COLUMNS)[number];
const JSON_KEYS = new Set(['address', 'reason', 'messageId', 'createdAt', 'expiresAt']);

export interface ImportOptions {
  /** Validates an address and returns its key; throws with a message when invalid. */
  readonly key: (address: string) => string;
  readonly now: number;
  readonly maxReason: number;
  readonly maxRecords: number;
}

export interface ParsedImport {
  readonly entries: SuppressionEntry[];
  /** `line N: what is wrong`, at most 20. */
  readonly problems: string[];
  readonly problemCount: number;
}

/** One CSV record with the line it starts on. */
interface CsvRecord {
  readonly line: number;
  readonly fields: string[];
}

/** Splits RFC 4180 text into records (CRLF or LF); an unterminated quote is reported. */
export function parseCsv(text: string): { records: CsvRecord[]; error?: string } {
  const records: CsvRecord[] = [];
  let fields: string[] = [];
  let field = '';
  let quoted = false;
  let line = 1;
  let start = 1;
  let i = 0;
  const endRecord = (): void => {
    fields.push(field);
    if (!(fields.length === 1 && fields[0]!.trim() === '')) records.push({ line: start, fields });
    fields = [];
    field = '';
  };
  while (i < text.length) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        field += '"';
        i += 2;
        continue;
      }
      if (c === '"') quoted = false;
      else {
        if (c === '\n') line++;
        field += c;
      }
      i++;
      continue;
    }
    if (c === '"' && field.trim() === '') {
      quoted = true;
      field = '';
    } else if (c === ',') {
      fields.push(field);
      field = '';
    } else if (c === '\n' || (c === '\r' && text[i + 1] === '\n')) {
      if (c === '\r') i++;
      endRecord();
      line++;
      start = line;
    } else field += c;
    i++;
  }
  if (quoted) return { records, error: `line ${start}: unterminated quoted field` };
  endRecord();
  return { records };
}

function csvField(value: string): string {
  return /[",\r\n]|^\s|\s$/.test(value) ? `"${value.replace(/"/g, '""')}"` : value;
}

/** One CSV record ending in `\n`, quoting fields only when needed. */
export function toCsvLine(values: readonly string[]): string {
  return `${values.map(csvField).join(',')}\n`;
}

/** Epoch ms from '', digits (epoch ms) or ISO 8601 text; a string is a problem. */
function parseTime(value: unknown, name: string): number | undefined | string {
  if (value === undefined || value === null || value === '') return undefined;
  if (typeof value === 'number') {
    return Number.isSafeInteger(value) && value >= 0 ? value : `${name}: expected epoch milliseconds`;
  }
  if (typeof value !== 'string') return `${name}: expected a time`;
  const text = value.trim();
  if (/^\d{1,15}$/.test(text)) return Number(text);
  const ms = /^\d{4}-\d{2}-\d{2}/.test(text) ? Date.parse(text) : Number.NaN;
  return Number.isNaN(ms) ? `${name}: "${text.slice(0, 40)}" is not an ISO 8601 time` : ms;
}

class Collector {
  readonly entries = new Map<string, SuppressionEntry>();
  readonly problems: string[] = [];
  problemCount = 0;
  readonly #options: ImportOptions;

  constructor(options: ImportOptions) {
    this.#options = options;
  }

  problem(line: number, message: string): void {
    this.problemCount++;
    if (this.problems.length < MAX_PROBLEMS) this.problems.push(`line ${line}: ${message}`);
  }

  add(line: number, raw: Partial<Record<Column, unknown>>): void {
    if (this.entries.size >= this.#options.maxRecords) {
      this.problem(line, `more than ${this.#options.maxRecords} entries`);
      return;
    }
    const { address, reason, message_id: messageId } = raw;
    if (typeof address !== 'string' || address.trim() === '') {
      this.problem(line, 'address: missing');
      return;
    }
    let key: string;
    try {
      key = this.#options.key(address);
    } catch (error) {
      this.problem(line, error instanceof Error ? error.message : String(error));
      return;
    }
    if (reason !== undefined && typeof reason !== 'string')
      return this.problem(line, 'reason: expected text');
    if (typeof reason === 'string' && reason.length > this.#options.maxReason) {
      return this.problem(line, `reason: at most ${this.#options.maxReason} characters`);
    }
    if (messageId !== undefined && (typeof messageId !== 'string' || messageId.length > 100)) {
      return this.problem(line, 'message_id: expected text of at most 100 characters');
    }
    const createdAt = parseTime(raw.created_at, 'created_at');
    const expiresAt = parseTime(raw.expires_at, 'expires_at');
    if (typeof createdAt === 'string') return this.problem(line, createdAt);
    if (typeof expiresAt === 'string') return this.problem(line, expiresAt);
    this.entries.delete(key);
    this.entries.set(key, {
      address: key,
      reason: typeof reason === 'string' && reason.trim() !== '' ? reason : 'imported',
      ...(typeof messageId === 'string' && messageId !== '' ? { messageId } : {}),
      createdAt: createdAt ?? this.#options.now,
      ...(expiresAt === undefined ? {} : { expiresAt }),
    });
  }

  result(): ParsedImport {
    return { entries: [...this.entries.values()], problems: this.problems, problemCount: this.problemCount };
  }
}

function parseCsvImport(text: string, out: Collector): void {
  const { records, error } = parseCsv(text);
  let columns: readonly string[] = ['address', 'reason', 'expires_at'];
  const first = records[0];
  if (first && first.fields[0]?.trim().toLowerCase() === 'address') {
    columns = first.fields.map((f) => f.trim().toLowerCase());
    const unknown = columns.filter((c) => !(COLUMNS as readonly string[]).includes(c));
    if (unknown.length > 0)
      out.problem(first.line, `unknown column(s) ${unknown.join(', ')}; known: ${COLUMNS.join(', ')}`);
    records.shift();
  }
  for (const record of records) {
    if (record.fields.length > columns.length) {
      out.problem(record.line, `${record.fields.length} fields, expected at most ${columns.length}`);
      continue;
    }
    const raw: Partial<Record<Column, string>> = {};
    record.fields.forEach((value, i) => {
      raw[columns[i] as Column] = i === 0 ? value.trim() : value;
    });
    out.add(record.line, raw);
  }
  if (error) out.problem(Number(/^line (\d+)/.exec(error)?.[1] ?? 0), 'unterminated quoted field');
}

function parseJsonLinesImport(text: string, out: Collector): void {
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (line === '') continue;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      out.problem(i + 1, 'not valid JSON');
      continue;
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      out.problem(i + 1, 'expected a JSON object');
      continue;
    }
    const record = value as Record<string, unknown>;
    const unknown = Object.keys(record).filter((k) => !JSON_KEYS.has(k));
    if (unknown.length > 0) {
      out.problem(i + 1, `unknown key(s) ${unknown.join(', ')}`);
      continue;
    }
    out.add(i + 1, {
      address: record.address,
      reason: record.reason,
      message_id: record.messageId,
      created_at: record.createdAt,
      expires_at: record.expiresAt,
    });
  }
}

export function parseImport(text: string, format: SuppressionFormat, options: ImportOptions): ParsedImport {
  const out = new Collector(options);
  const body = text.startsWith('\uFEFF') ? text.slice(1) : text;
  if (format === 'csv') parseCsvImport(body, out);
  else parseJsonLinesImport(body, out);
  return out.result();
}
