/**
 * What the API-backed commands (`status`, `tail`, `queue`) share: the common flags
 * (`--api`, `--token`, `--json`), turning API errors into messages and exit codes,
 * terminal-safe text, colors and simple tables.
 *
 * Server replies are UNTRUSTED input to a terminal: remote SMTP reply text ends up
 * in them, so `clean` replaces control characters (escape sequences included)
 * before anything is printed. Exit codes: 69 when the API cannot be reached (the
 * address is named), 65 when the server refused the request as bad (400, 413, 415,
 * 422), 1 for other refusals (404, 401, 503...), 64 for usage errors.
 */
import { ApiClient, ApiProblemError, ApiUnreachableError, apiOptions } from '../api-client.ts';
import { type CliIo, EXIT } from '../io.ts';

import { UsageProblem, usageOr } from './usage.ts';

export { UsageProblem, usageOr };

export const API_FLAGS = {
  api: { type: 'string' },
  token: { type: 'string' },
  json: { type: 'boolean' },
} as const;

export const API_FLAGS_HELP =
  'Flags: --api URL (MXPRESS_API, default http://127.0.0.1:8025), --token TOKEN (MXPRESS_TOKEN), --json (raw JSON).';

export function clientFor(
  values: { api?: string | undefined; token?: string | undefined },
  io: CliIo,
): ApiClient {
  return usageOr(() => new ApiClient(apiOptions(values, io.env)));
}

/** Runs a command body, turning known failures into a message and an exit code. */
export async function withApiErrors(
  io: CliIo,
  command: string,
  body: () => Promise<number>,
): Promise<number> {
  try {
    return await body();
  } catch (error) {
    if (error instanceof UsageProblem) {
      io.stderr.write(`mxpress ${command}: ${error.message}; see mxpress ${command.split(' ')[0]} --help\n`);
      return EXIT.usage;
    }
    if (error instanceof ApiUnreachableError) {
      io.stderr.write(`mxpress ${command}: ${clean(error.message)}\n`);
      return EXIT.unavailable;
    }
    if (error instanceof ApiProblemError) {
      const detail = clean(error.problem.detail ?? error.problem.title ?? '');
      io.stderr.write(`mxpress ${command}: the server said ${error.status}${detail ? `: ${detail}` : ''}\n`);
      return [400, 413, 415, 422].includes(error.status) ? EXIT.dataError : EXIT.failure;
    }
    throw error;
  }
}

/** Text from the server made safe for a terminal: no control characters, bounded length. */
export function clean(value: unknown, max = 500): string {
  const text = typeof value === 'string' ? value : value === undefined || value === null ? '' : String(value);
  const safe = text.replace(/[\x00-\x1f\x7f-\x9f]+/g, ' ');
  return safe.length > max ? `${safe.slice(0, max - 3)}...` : safe;
}

const COLORS = { red: 31, green: 32, yellow: 33, blue: 34, magenta: 35, cyan: 36, gray: 90 } as const;
export type Color = keyof typeof COLORS;

/** Colors only for a terminal, and never when NO_COLOR is set. */
export function painter(io: CliIo): (color: Color | undefined, text: string) => string {
  const on = io.stdout.isTTY === true && !io.env.NO_COLOR;
  return (color, text) => (on && color !== undefined ? `\x1b[${COLORS[color]}m${text}\x1b[0m` : text);
}

export function statusColor(status: string): Color | undefined {
  switch (status) {
    case 'delivered':
      return 'green';
    case 'deferred':
    case 'queued':
      return 'yellow';
    case 'bounced':
    case 'expired':
      return 'red';
    case 'received':
      return 'cyan';
    case 'cancelled':
    case 'suppressed':
    case 'suppression-added':
      return 'magenta';
    default:
      return undefined;
  }
}

/**
 * Left-aligned columns separated by two spaces, one string per row; the last
 * column is not padded. `style` may wrap a padded cell (colors do not count
 * toward the width).
 */
export function table(
  rows: readonly (readonly string[])[],
  style: (row: number, column: number, padded: string) => string = (_r, _c, padded) => padded,
): string[] {
  const widths: number[] = [];
  for (const row of rows) {
    for (const [i, cell] of row.entries()) widths[i] = Math.max(widths[i] ?? 0, cell.length);
  }
  return rows.map((row, r) =>
    row.map((cell, i) => style(r, i, i === row.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  '),
  );
}

/** `550 5.1.1 No such user` from a reply object as the API shows it. */
export function replyText(reply: unknown): string {
  if (typeof reply !== 'object' || reply === null) return '';
  const r = reply as { code?: unknown; enhanced?: unknown; text?: unknown };
  return clean([r.code, r.enhanced, r.text].filter((p) => p !== undefined && p !== '').join(' '), 200);
}
