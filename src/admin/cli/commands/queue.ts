/**
 * `mxpress queue list|show|retry|cancel|hold|release`: the queue of a running server
 * through its HTTP API.
 *
 *   list [--status S] [--domain D] [--recipient A] [--sender A] [--limit N] [--cursor C]
 *   show ID [--attempts]        the same view as `mxpress status`
 *   retry|cancel|hold|release ID
 *
 * Server replies are printed through `clean`. Exit 0 ok, 1 unknown message or
 * refused, 64 usage, 65 the server found a value malformed, 69 API unreachable.
 */
import { parseArgs } from 'node:util';
import { type CliIo, EXIT } from '../io.ts';
import {
  API_FLAGS,
  API_FLAGS_HELP,
  clean,
  clientFor,
  painter,
  statusColor,
  table,
  UsageProblem,
  usageOr,
  withApiErrors,
} from './api-common.ts';
import type { Command } from './command.ts';
import { type MessageView, renderMessage } from './status.ts';

const ACTIONS = ['retry', 'cancel', 'hold', 'release'] as const;
type Action = (typeof ACTIONS)[number];
const SUBCOMMANDS = ['list', 'show', ...ACTIONS] as const;
type Sub = (typeof SUBCOMMANDS)[number];

const LIST_FLAGS = ['status', 'domain', 'recipient', 'sender', 'limit', 'cursor'] as const;

const HELP = `Usage: mxpress queue <subcommand> [flags]

Look at and act on the queue of a running server.

  list [--status S] [--domain D] [--recipient ADDR] [--sender ADDR] [--limit N] [--cursor C]
                          messages, newest first (S: queued, deferred, delivered, bounced,
                          expired, suppressed, cancelled)
  show ID [--attempts]    one message, recipient by recipient (as mxpress status)
  retry ID                try its pending recipients now
  cancel ID               give up on its pending recipients (no bounce is sent)
  hold ID                 keep its pending recipients from being tried
  release ID              let held recipients be tried again
${API_FLAGS_HELP}`;

function parseQueue(args: readonly string[]) {
  return parseArgs({
    args: [...args],
    allowPositionals: true,
    strict: true,
    options: {
      ...API_FLAGS,
      attempts: { type: 'boolean' },
      ...Object.fromEntries(LIST_FLAGS.map((f) => [f, { type: 'string' }] as const)),
    } as const,
  });
}

interface ListReply {
  messages?: {
    id?: string;
    receivedAt?: string;
    from?: string;
    subject?: string;
    recipients?: { status?: string }[];
  }[];
  next?: string;
}

/** `2 delivered, 1 deferred` */
function statusSummary(recipients: readonly { status?: string }[] | undefined, io: CliIo): string {
  const counts = new Map<string, number>();
  for (const r of recipients ?? [])
    counts.set(clean(r.status, 20), (counts.get(clean(r.status, 20)) ?? 0) + 1);
  const paint = painter(io);
  return [...counts].map(([status, n]) => paint(statusColor(status), `${n} ${status}`)).join(', ');
}

async function list(values: Record<string, string | boolean | undefined>, io: CliIo): Promise<number> {
  const client = clientFor(values as { api?: string; token?: string }, io);
  const query = Object.fromEntries(LIST_FLAGS.map((f) => [f, values[f] as string | undefined]));
  const reply = await client.getJson<ListReply>('/api/v1/messages', query);
  if (values.json) {
    io.stdout.write(`${JSON.stringify(reply, null, 2)}\n`);
    return EXIT.ok;
  }
  const messages = reply.messages ?? [];
  if (messages.length === 0) {
    io.stdout.write('No messages.\n');
    return EXIT.ok;
  }
  const rows = [['ID', 'RECEIVED', 'FROM', 'SUBJECT', 'RECIPIENTS']];
  const summaries = messages.map((m) => statusSummary(m.recipients, io));
  for (const m of messages) {
    rows.push([clean(m.id, 40), clean(m.receivedAt, 30), `<${clean(m.from, 80)}>`, clean(m.subject, 40), '']);
  }
  const lines = table(rows).map((line, i) => (i === 0 ? line : `${line}${summaries[i - 1]}`));
  io.stdout.write(`${lines.join('\n')}\n`);
  if (reply.next) io.stdout.write(`More: mxpress queue list --cursor ${clean(reply.next, 200)}\n`);
  return EXIT.ok;
}

function only(sub: Sub, values: Record<string, unknown>, allowed: readonly string[]): void {
  for (const key of Object.keys(values)) {
    if (!['api', 'token', 'json', ...allowed].includes(key))
      throw new UsageProblem(`queue ${sub} takes no --${key}`);
  }
}

export const queueCommand: Command = {
  name: 'queue',
  summary: 'list, show, retry, cancel, hold or release queued messages',
  help: () => HELP,
  run: (args, io) =>
    withApiErrors(io, 'queue', async () => {
      const parsed: ReturnType<typeof parseQueue> = usageOr(() => parseQueue(args));
      const [sub, id, extra] = parsed.positionals;
      if (sub === undefined) throw new UsageProblem(`needs a subcommand (${SUBCOMMANDS.join(', ')})`);
      if (!(SUBCOMMANDS as readonly string[]).includes(sub))
        throw new UsageProblem(`no subcommand "${clean(sub, 40)}"`);
      const values = parsed.values as Record<string, string | boolean | undefined>;
      if (sub === 'list') {
        only(sub, values, LIST_FLAGS);
        if (id !== undefined) throw new UsageProblem(`unexpected argument "${id}"`);
        return list(values, io);
      }
      only(sub as Sub, values, sub === 'show' ? ['attempts'] : []);
      if (id === undefined) throw new UsageProblem(`queue ${sub} needs a message id`);
      if (extra !== undefined) throw new UsageProblem(`unexpected argument "${extra}"`);
      const client = clientFor(values as { api?: string; token?: string }, io);
      const path = `/api/v1/messages/${encodeURIComponent(id)}`;
      if (sub === 'show') {
        const view = await client.getJson<MessageView>(path);
        io.stdout.write(
          values.json
            ? `${JSON.stringify(view, null, 2)}\n`
            : `${renderMessage(view, io, values.attempts === true)}\n`,
        );
        return EXIT.ok;
      }
      const result = await client.postJson<{ changed?: number; inFlight?: number }>(
        `${path}/${sub as Action}`,
      );
      if (values.json) io.stdout.write(`${JSON.stringify(result)}\n`);
      else {
        const n = typeof result.changed === 'number' ? result.changed : 0;
        io.stdout.write(
          `${sub}: ${n} recipient${n === 1 ? '' : 's'} changed${n === 0 ? ' (nothing pending)' : ''}\n`,
        );
        const busy = typeof result.inFlight === 'number' ? result.inFlight : 0;
        if (busy > 0)
          io.stdout.write(
            `${busy} of them ${busy === 1 ? 'was' : 'were'} being delivered: if the receiving server accepts ${busy === 1 ? 'it' : 'them'}, ${busy === 1 ? 'it shows' : 'they show'} as delivered\n`,
          );
      }
      return EXIT.ok;
    }),
};
