/**
 * `mxpress suppress list|add|remove|import|export`: the suppression list of a running
 * server, through its HTTP API (routes/suppression.ts).
 *
 *   list [--after ADDRESS] [--limit N] [--json]   one page, address order
 *   add ADDRESS [--reason TEXT] [--expires TIME]  TIME is ISO 8601 or YYYY-MM-DD (UTC)
 *   remove ADDRESS
 *   import FILE [--format csv|jsonl]              format from the extension when not given
 *   export [--format csv|jsonl]                   to stdout (default csv)
 *
 * Every subcommand takes `--api URL` and `--token TOKEN` (or MXPRESS_API /
 * MXPRESS_TOKEN; api-client.ts). Every call goes through ApiClient (JSON calls, and
 * `request` for the DELETE, the import upload and the streamed export). Server replies are input:
 * only known fields are printed. Exit 0 ok, 1 not found or refused, 64 usage,
 * 65 bad data (the server said 400/415), 69 API unreachable.
 */
import { readFile, stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { ApiClient, ApiProblemError, ApiUnreachableError, apiOptions } from '../api-client.ts';
import { type CliIo, EXIT } from '../io.ts';
import type { Command } from './command.ts';
import { UsageProblem, usageOr } from './usage.ts';

const MAX_IMPORT_BYTES = 20 * 1024 * 1024;
const SUBCOMMANDS = ['list', 'add', 'remove', 'import', 'export'] as const;
type Sub = (typeof SUBCOMMANDS)[number];

const HELP = `Usage: mxpress suppress <subcommand> [flags]

Manage the suppression list of a running server (addresses refused at RCPT).

  list [--after ADDRESS] [--limit N] [--json]    show entries in address order (one page)
  add ADDRESS [--reason TEXT] [--expires TIME]   suppress an address (TIME: 2025-12-31 or ISO 8601)
  remove ADDRESS                                 lift a suppression
  import FILE [--format csv|jsonl]               add every entry of a file, or none if a line is bad
  export [--format csv|jsonl]                    write the whole list to stdout (default csv)

Flags for all: --api URL (MXPRESS_API, default http://127.0.0.1:8025), --token TOKEN (MXPRESS_TOKEN).
CSV columns: address,reason,message_id,created_at,expires_at (header optional; without one: address,reason,expires_at).`;

interface Entry {
  readonly address?: unknown;
  readonly reason?: unknown;
  readonly expiresAt?: unknown;
  readonly createdAt?: unknown;
}

function parse(args: readonly string[]) {
  return usageOr(() =>
    parseArgs({
      args: [...args],
      allowPositionals: true,
      strict: true,
      options: {
        api: { type: 'string' },
        token: { type: 'string' },
        after: { type: 'string' },
        limit: { type: 'string' },
        json: { type: 'boolean' },
        reason: { type: 'string' },
        expires: { type: 'string' },
        format: { type: 'string' },
      },
    }),
  );
}

type Parsed = ReturnType<typeof parse>;

/** Refuses flags that do not belong to the subcommand (parseArgs knows them all). */
function only(sub: Sub, values: Parsed['values'], allowed: readonly string[]): void {
  for (const key of Object.keys(values)) {
    if (key !== 'api' && key !== 'token' && !allowed.includes(key)) {
      throw new UsageProblem(`suppress ${sub} takes no --${key}`);
    }
  }
}

function onePositional(sub: Sub, positionals: readonly string[], what: string): string {
  const [value, extra] = positionals;
  if (value === undefined) throw new UsageProblem(`suppress ${sub} needs ${what}`);
  if (extra !== undefined) throw new UsageProblem(`unexpected argument "${extra}"`);
  return value;
}

function expiresAt(text: string): string {
  const iso = /^\d{4}-\d{2}-\d{2}$/.test(text) ? `${text}T00:00:00Z` : text;
  if (Number.isNaN(Date.parse(iso)) || !/^\d{4}-\d{2}-\d{2}T/.test(iso)) {
    throw new UsageProblem(`--expires: "${text}" is not a date (2025-12-31) or ISO 8601 time`);
  }
  return iso;
}

function format(value: string | undefined, file?: string): 'csv' | 'jsonl' {
  const chosen =
    value ??
    (file === undefined
      ? 'csv'
      : /\.(jsonl|ndjson)$/i.test(file)
        ? 'jsonl'
        : /\.csv$/i.test(file)
          ? 'csv'
          : undefined);
  if (chosen === 'csv' || chosen === 'jsonl') return chosen;
  throw new UsageProblem(
    value === undefined
      ? `say --format csv or --format jsonl for ${file}`
      : `--format: expected csv or jsonl, got "${value}"`,
  );
}

function text(value: unknown): string {
  return typeof value === 'string' ? value.replace(/[\x00-\x1f\x7f]+/g, ' ') : '';
}

async function list(client: ApiClient, values: Parsed['values'], io: CliIo): Promise<number> {
  const limit = values.limit ?? '100';
  if (!/^\d{1,4}$/.test(limit) || Number(limit) < 1 || Number(limit) > 1000) {
    throw new UsageProblem('--limit: expected 1 to 1000');
  }
  const page = await client.getJson<{ items?: Entry[]; next?: unknown }>('/api/v1/suppressions', {
    limit,
    after: values.after,
  });
  if (values.json) {
    io.stdout.write(`${JSON.stringify(page, null, 2)}\n`);
    return EXIT.ok;
  }
  const items = Array.isArray(page.items) ? page.items : [];
  if (items.length === 0) io.stdout.write('(no suppressed addresses)\n');
  const width = Math.min(60, Math.max(7, ...items.map((e) => text(e.address).length)));
  if (items.length > 0) io.stdout.write(`${'ADDRESS'.padEnd(width)}  ${'EXPIRES'.padEnd(10)}  REASON\n`);
  for (const e of items) {
    const expires = typeof e.expiresAt === 'string' ? e.expiresAt.slice(0, 10) : 'never';
    io.stdout.write(
      `${text(e.address).padEnd(width)}  ${expires.padEnd(10)}  ${text(e.reason).slice(0, 100)}\n`,
    );
  }
  if (typeof page.next === 'string') {
    io.stdout.write(`more: mxpress suppress list --after ${text(page.next)}\n`);
  }
  return EXIT.ok;
}

async function run(sub: Sub, parsed: Parsed, io: CliIo): Promise<number> {
  const { values, positionals } = parsed;
  const options = apiOptions(values, io.env);
  const client = new ApiClient(options);
  switch (sub) {
    case 'list':
      only(sub, values, ['after', 'limit', 'json']);
      if (positionals.length > 0) throw new UsageProblem(`unexpected argument "${positionals[0]}"`);
      return list(client, values, io);
    case 'add': {
      only(sub, values, ['reason', 'expires']);
      const address = onePositional(sub, positionals, 'an ADDRESS');
      const entry = await client.postJson<Entry>('/api/v1/suppressions', {
        address,
        ...(values.reason === undefined ? {} : { reason: values.reason }),
        ...(values.expires === undefined ? {} : { expiresAt: expiresAt(values.expires) }),
      });
      const until = typeof entry.expiresAt === 'string' ? ` until ${entry.expiresAt}` : '';
      io.stdout.write(`suppressed ${text(entry.address)}${until}\n`);
      return EXIT.ok;
    }
    case 'remove': {
      only(sub, values, []);
      const address = onePositional(sub, positionals, 'an ADDRESS');
      await client.request('DELETE', `/api/v1/suppressions/${encodeURIComponent(address)}`);
      io.stdout.write(`removed ${address}\n`);
      return EXIT.ok;
    }
    case 'import': {
      only(sub, values, ['format']);
      const file = resolve(io.cwd, onePositional(sub, positionals, 'a FILE'));
      const kind = format(values.format, file);
      const size = (await stat(file)).size;
      if (size > MAX_IMPORT_BYTES) throw new UsageProblem(`${file}: larger than 20 MiB; split it`);
      const body = {
        type: kind === 'csv' ? 'text/csv' : 'application/x-ndjson',
        text: await readFile(file, 'utf8'),
      };
      const response = await client.request('POST', '/api/v1/suppressions/import', {
        body: { type: body.type, data: body.text },
      });
      const result = (await response.json()) as { added?: unknown; updated?: unknown };
      io.stdout.write(`imported: ${Number(result.added)} added, ${Number(result.updated)} updated\n`);
      return EXIT.ok;
    }
    case 'export': {
      only(sub, values, ['format']);
      if (positionals.length > 0) throw new UsageProblem(`unexpected argument "${positionals[0]}"`);
      const response = await client.request('GET', '/api/v1/suppressions', {
        query: { format: format(values.format) },
      });
      const decoder = new TextDecoder();
      try {
        if (response.body)
          for await (const chunk of response.body) io.stdout.write(decoder.decode(chunk, { stream: true }));
      } catch (error) {
        throw new ApiUnreachableError(options.base, `export interrupted: ${String(error)}`);
      }
      return EXIT.ok;
    }
    default: {
      const never: never = sub;
      throw new Error(`unhandled subcommand ${String(never)}`);
    }
  }
}

function report(error: ApiProblemError, io: CliIo): number {
  const problem = error.problem as { detail?: unknown; title?: unknown; problems?: unknown };
  io.stderr.write(
    `mxpress: suppress: ${error.status} ${text(problem.title)}${problem.detail ? `: ${text(problem.detail)}` : ''}\n`,
  );
  if (Array.isArray(problem.problems))
    for (const p of problem.problems.slice(0, 20)) io.stderr.write(`  ${text(p)}\n`);
  if (error.status === 404 && typeof problem.detail === 'string' && problem.detail.startsWith('No route')) {
    io.stderr.write('  (is the suppression list enabled on this server?)\n');
  }
  return error.status === 400 || error.status === 415 ? EXIT.dataError : EXIT.failure;
}

export const suppressCommand: Command = {
  name: 'suppress',
  summary: 'list, add, remove, import or export suppressed addresses',
  help: () => HELP,
  async run(args, io) {
    const [sub, ...rest] = args;
    try {
      if (sub === undefined || !(SUBCOMMANDS as readonly string[]).includes(sub)) {
        const given = sub === undefined ? 'needs a subcommand' : `has no subcommand "${sub}"`;
        throw new UsageProblem(`suppress ${given} (${SUBCOMMANDS.join(', ')})`);
      }
      return await run(sub as Sub, parse(rest), io);
    } catch (error) {
      // ApiClient reports a bad --api as a TypeError naming the flag.
      if (
        error instanceof UsageProblem ||
        (error instanceof TypeError && error.message.startsWith('--api'))
      ) {
        io.stderr.write(`mxpress: ${error.message}; see mxpress suppress --help\n`);
        return EXIT.usage;
      }
      if (error instanceof ApiUnreachableError) {
        io.stderr.write(`mxpress: ${error.message}\n`);
        return EXIT.unavailable;
      }
      if (error instanceof ApiProblemError) return report(error, io);
      const code = (error as { code?: unknown }).code;
      if (code === 'ENOENT' || code === 'EACCES' || code === 'EISDIR') {
        io.stderr.write(`mxpress: ${(error as Error).message}\n`);
        return EXIT.dataError;
      }
      throw error;
    }
  },
};
