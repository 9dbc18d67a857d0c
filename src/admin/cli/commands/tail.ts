/**
 * `mxpress tail [--types delivered,bounced] [--message ID] [--recipient ADDR]
 * [--domain DOMAIN] [--since SEQ] [--json]`: follows `GET /api/v1/events` and
 * prints one line per lifecycle event (colored on a terminal), or the JSON event
 * per line with --json.
 *
 * Runs until Ctrl-C (exit 0). When the stream ends or stalls it says so, names
 * the last seq seen so `--since` can resume without a gap, and exits 69; 69 too
 * when the API cannot be reached. Event fields come from the server and are
 * printed through `clean` (remote reply text could hold terminal escapes).
 */
import { parseArgs } from 'node:util';
import type { SseMessage } from '../api-client.ts';
import { type CliIo, EXIT } from '../io.ts';
import {
  API_FLAGS,
  API_FLAGS_HELP,
  clean,
  clientFor,
  painter,
  replyText,
  statusColor,
  UsageProblem,
  usageOr,
  withApiErrors,
} from './api-common.ts';
import type { Command } from './command.ts';

interface EventData {
  type?: string;
  seq?: number;
  at?: number;
  messageId?: string;
  recipient?: string;
  recipients?: string[];
  address?: string;
  from?: string;
  size?: number;
  reply?: unknown;
  lastReply?: unknown;
  attempt?: { reply?: unknown; mxHost?: string; ip?: string; errorCode?: string };
  nextAttemptAt?: number;
  reason?: string;
  action?: string;
  inFlight?: boolean;
}

function when(ms: unknown): string {
  return typeof ms === 'number' && Number.isFinite(ms) ? new Date(ms).toISOString() : '?';
}

/** What an event says beyond its type and message, in a few words. */
function summary(e: EventData): string {
  switch (e.type) {
    case 'received':
      return `from <${clean(e.from)}> to ${(e.recipients ?? [])
        .slice(0, 5)
        .map((r) => clean(r))
        .join(', ')}${(e.recipients?.length ?? 0) > 5 ? ', ...' : ''} (${e.size ?? 0} bytes)`;
    case 'delivered':
      return `${clean(e.recipient)}: ${replyText(e.attempt?.reply)}${e.attempt?.mxHost ? ` (${clean(e.attempt.mxHost)})` : ''}`;
    case 'deferred':
      return `${clean(e.recipient)}: ${replyText(e.attempt?.reply) || clean(e.attempt?.errorCode)}; next ${when(e.nextAttemptAt)}`;
    case 'bounced':
      return `${clean(e.recipient)}: ${replyText(e.reply)}`;
    case 'expired':
      return `${clean(e.recipient)}: ${replyText(e.lastReply) || 'gave up'}`;
    case 'suppressed':
      return `${clean(e.recipient)}: ${clean(e.reason)}`;
    case 'cancelled':
      return e.inFlight === true
        ? `${clean(e.recipient)} (a delivery was under way and may still arrive)`
        : clean(e.recipient);
    case 'dsn-sent':
      return `${clean(e.action)} report for ${(e.recipients ?? []).map((r) => clean(r)).join(', ')}`;
    case 'suppression-added':
      return `${clean(e.address)}: ${clean(e.reason)}`;
    default:
      return '';
  }
}

export function eventLine(message: SseMessage, io: CliIo): string {
  let data: EventData;
  try {
    data = JSON.parse(message.data) as EventData;
  } catch {
    return `? ${clean(message.data, 200)}`;
  }
  const paint = painter(io);
  const type = clean(data.type ?? message.event, 40);
  return `${when(data.at)}  ${paint(statusColor(type), type.padEnd(17))}  ${clean(data.messageId, 40) || '-'}  ${summary(data)}`;
}

const HELP = `Usage: mxpress tail [--types LIST] [--message ID] [--recipient ADDR] [--domain DOMAIN] [--since SEQ] [--json]

Follow lifecycle events live, one line each, until Ctrl-C.

  --types LIST        only these, e.g. delivered,bounced,deferred
  --message ID        only events of this message
  --recipient ADDR    only events naming this recipient
  --domain DOMAIN     only events for recipients at this domain
  --since SEQ         first replay stored events after SEQ (resume after a break)
${API_FLAGS_HELP}`;

function parseTail(args: readonly string[]) {
  return parseArgs({
    args: [...args],
    allowPositionals: false,
    strict: true,
    options: {
      ...API_FLAGS,
      types: { type: 'string' },
      message: { type: 'string' },
      recipient: { type: 'string' },
      domain: { type: 'string' },
      since: { type: 'string' },
    },
  });
}

export const tailCommand: Command = {
  name: 'tail',
  summary: 'follow delivery events live',
  help: () => HELP,
  run: (args, io) =>
    withApiErrors(io, 'tail', async () => {
      const parsed: ReturnType<typeof parseTail> = usageOr(() => parseTail(args));
      const { values } = parsed;
      if (values.since !== undefined && !/^\d{1,15}$/.test(values.since)) {
        throw new UsageProblem(`--since: expected an event seq number, got "${values.since}"`);
      }
      const client = clientFor(values, io);
      const stop = new AbortController();
      const offSignal = io.onSignal(() => stop.abort());
      let last: string | undefined;
      try {
        const stream = client.events(
          {
            types: values.types,
            message: values.message,
            recipient: values.recipient,
            domain: values.domain,
            since: values.since,
          },
          { signal: stop.signal },
        );
        for await (const message of stream) {
          if (message.id !== undefined) last = message.id;
          io.stdout.write(values.json ? `${message.data}\n` : `${eventLine(message, io)}\n`);
        }
        return EXIT.ok;
      } catch (error) {
        if (last !== undefined)
          io.stderr.write(`mxpress tail: last event seen: ${last}; resume with --since ${last}\n`);
        throw error;
      } finally {
        offSignal();
      }
    }),
};
