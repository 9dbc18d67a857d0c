/**
 * `mxpress status ID [--attempts] [--json]`: what became of a message, recipient by
 * recipient: status, attempts, last reply and, for failures, the plain-language
 * explanation, from `GET /api/v1/messages/{id}` of a running server.
 *
 * Also `renderMessage`, which `mxpress queue show` uses. Server replies are
 * printed through `clean` (no terminal control characters). Exit 0 when shown,
 * 1 for an unknown message, 64 usage, 65 a malformed id, 69 API unreachable.
 */
import { parseArgs } from 'node:util';
import type { CliIo } from '../io.ts';
import { EXIT } from '../io.ts';
import {
  API_FLAGS,
  API_FLAGS_HELP,
  clean,
  clientFor,
  painter,
  replyText,
  statusColor,
  table,
  UsageProblem,
  usageOr,
  withApiErrors,
} from './api-common.ts';
import type { Command } from './command.ts';

interface AttemptView {
  n?: number;
  at?: string;
  durationMs?: number;
  mxHost?: string;
  ip?: string;
  tls?: { protocol?: string };
  route?: string;
  outcome?: string;
  reply?: unknown;
  errorCode?: string;
}

interface RecipientView {
  address?: string;
  status?: string;
  held?: boolean;
  attemptCount?: number;
  attempts?: AttemptView[];
  nextAttemptAt?: string;
  lastResponse?: unknown;
  lastErrorCode?: string;
  classification?: { severity?: string; category?: string };
  explanation?: { title?: string; cause?: string; action?: string };
}

export interface MessageView {
  id?: string;
  receivedAt?: string;
  from?: string;
  size?: number;
  headers?: Record<string, string>;
  recipients?: RecipientView[];
}

function attemptLine(a: AttemptView): string {
  const where = [a.mxHost, a.ip ? `[${a.ip}]` : undefined].filter(Boolean).join(' ');
  const tls = a.tls?.protocol ? ` ${a.tls.protocol}` : '';
  const what = replyText(a.reply) || clean(a.errorCode);
  return clean(
    `#${a.n ?? '?'} ${a.at ?? ''} ${a.outcome ?? ''} via ${a.route ?? '?'} ${where}${tls} ${a.durationMs ?? 0}ms: ${what}`,
  );
}

/** The human view of one message; `attempts` adds every attempt under its recipient. */
export function renderMessage(view: MessageView, io: CliIo, attempts: boolean): string {
  const paint = painter(io);
  const subject = view.headers?.subject;
  const lines = [
    `Message ${clean(view.id)} from <${clean(view.from)}>, received ${clean(view.receivedAt)}, ${view.size ?? 0} bytes`,
    ...(subject ? [`Subject: ${clean(subject)}`] : []),
    '',
  ];
  const rows: string[][] = [['RECIPIENT', 'STATUS', 'TRIES', 'LAST REPLY']];
  const notes = new Map<number, string[]>();
  for (const [i, r] of (view.recipients ?? []).entries()) {
    const status = `${clean(r.status)}${r.held ? ' (held)' : ''}`;
    const lastAttempt = r.attempts?.at(-1);
    const last =
      replyText(r.lastResponse) ||
      clean(r.lastErrorCode) ||
      replyText(lastAttempt?.reply) ||
      clean(lastAttempt?.errorCode);
    rows.push([clean(r.address, 254), status, String(r.attemptCount ?? 0), last]);
    const extra: string[] = [];
    if (r.explanation?.title) {
      const severity = r.classification?.severity ? `${clean(r.classification.severity)}: ` : '';
      extra.push(`    why: ${severity}${clean(r.explanation.title)}. ${clean(r.explanation.action, 1000)}`);
    }
    if ((r.status === 'deferred' || r.status === 'queued') && r.nextAttemptAt) {
      extra.push(`    next attempt: ${clean(r.nextAttemptAt)}`);
    }
    if (attempts) for (const a of r.attempts ?? []) extra.push(`    ${attemptLine(a)}`);
    notes.set(i, extra);
  }
  const rendered = table(rows, (row, column, padded) =>
    row > 0 && column === 1 ? paint(statusColor(view.recipients?.[row - 1]?.status ?? ''), padded) : padded,
  );
  lines.push(rendered[0]!);
  for (const i of (view.recipients ?? []).keys()) lines.push(rendered[i + 1]!, ...(notes.get(i) ?? []));
  return lines.join('\n');
}

const HELP = `Usage: mxpress status ID [--attempts] [--json]

Show what became of a message: each recipient's status, tries, last reply and,
for failures, what it means and what to do.

  --attempts   list every delivery attempt under its recipient
${API_FLAGS_HELP}`;

export const statusCommand: Command = {
  name: 'status',
  summary: 'show what became of a message, recipient by recipient',
  help: () => HELP,
  run: (args, io) =>
    withApiErrors(io, 'status', async () => {
      const parsed: ReturnType<typeof parseStatus> = usageOr(() => parseStatus(args));
      const [id, extra] = parsed.positionals;
      if (id === undefined) throw new UsageProblem('which message? give its queue id');
      if (extra !== undefined) throw new UsageProblem(`unexpected argument "${extra}"`);
      const client = clientFor(parsed.values, io);
      const view = await client.getJson<MessageView>(`/api/v1/messages/${encodeURIComponent(id)}`);
      io.stdout.write(
        parsed.values.json
          ? `${JSON.stringify(view, null, 2)}\n`
          : `${renderMessage(view, io, parsed.values.attempts ?? false)}\n`,
      );
      return EXIT.ok;
    }),
};

function parseStatus(args: readonly string[]) {
  return parseArgs({
    args: [...args],
    allowPositionals: true,
    strict: true,
    options: { ...API_FLAGS, attempts: { type: 'boolean' } },
  });
}
