/**
 * `mxpress send`: submits mail through the HTTP API and waits for what became of
 * it. One message from flags (`--from --to --subject --text --html --attach`) or
 * an .eml file (`--eml FILE`), or one per row of `--csv FILE --template FILE.eml`
 * ({{column}} placeholders). Then it follows the verdicts (send/watch.ts) with a
 * progress bar on a terminal and prints a per-recipient report (status, remote
 * reply); `--json` prints the report as JSON, `--no-wait` stops after submission.
 *
 * Bounded: `--timeout` (default 120 s) caps the wait; Ctrl-C ends it early with
 * the report so far. Exit codes: 0 every recipient delivered (or submitted, with
 * --no-wait), 1 some recipient bounced/expired/refused, 75 the time ran out with
 * recipients still pending, 64 usage, 65 a file or the server refused the input,
 * 69 API unreachable. Files and server answers are UNTRUSTED (see the helpers).
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
import { ComposeProblem, fromCsv, fromEml, fromFlags, type Submission } from './send/compose.ts';
import { type Accepted, submit } from './send/submit.ts';
import { FINAL, progressLine, Verdicts, waitForVerdicts } from './send/watch.ts';

const TEMPFAIL = 75;
const DEFAULT_TIMEOUT_S = 120;
const MAX_TIMEOUT_S = 7 * 24 * 3600;

const HELP = `Usage: mxpress send --from ADDR --to ADDR [--to ADDR...] --subject TEXT (--text TEXT | --html HTML) [--attach FILE...]
       mxpress send --eml FILE [--from ADDR] [--to ADDR...]
       mxpress send --csv RECIPIENTS.csv --template MESSAGE.eml [--from ADDR]

Submit mail through the HTTP API, then wait for each recipient's verdict.

  --eml FILE          send this RFC 5322 message as it is (recipients from --to, else To/Cc/Bcc;
                      Bcc is removed)
  --csv FILE          one message per row; needs an "email" column; the template's {{column}}
                      placeholders take the row's values
  --template FILE     the .eml template for --csv
  --timeout SECONDS   how long to wait for verdicts (default ${DEFAULT_TIMEOUT_S})
  --no-wait           return after submission, printing the message ids
${API_FLAGS_HELP}

Exit: 0 all delivered, 1 some failed, 75 still pending when the time ran out, 64 usage,
65 input refused, 69 API unreachable.`;

function parseSend(args: readonly string[]) {
  return parseArgs({
    args: [...args],
    allowPositionals: false,
    strict: true,
    options: {
      ...API_FLAGS,
      from: { type: 'string' },
      to: { type: 'string', multiple: true },
      subject: { type: 'string' },
      text: { type: 'string' },
      html: { type: 'string' },
      attach: { type: 'string', multiple: true },
      eml: { type: 'string' },
      csv: { type: 'string' },
      template: { type: 'string' },
      timeout: { type: 'string' },
      'no-wait': { type: 'boolean' },
    },
  });
}

type Values = ReturnType<typeof parseSend>['values'];

async function compose(values: Values): Promise<Submission[]> {
  const to = (values.to ?? [])
    .flatMap((t) => t.split(','))
    .map((t) => t.trim())
    .filter(Boolean);
  if (values.csv !== undefined || values.template !== undefined) {
    if (values.csv === undefined || values.template === undefined)
      throw new UsageProblem('--csv and --template go together');
    if (values.eml !== undefined || to.length > 0)
      throw new UsageProblem('--csv takes its recipients from the file; drop --eml/--to');
    return fromCsv(values.csv, values.template, values.from);
  }
  if (values.eml !== undefined) return [await fromEml(values.eml, values.from, to)];
  return [
    await fromFlags({
      from: values.from,
      to,
      subject: values.subject,
      text: values.text,
      html: values.html,
      attach: values.attach ?? [],
    }),
  ];
}

function report(verdicts: Verdicts, io: CliIo): string {
  const paint = painter(io);
  const rows = [['RECIPIENT', 'STATUS', 'MESSAGE', 'REPLY']];
  for (const s of verdicts.all())
    rows.push([clean(s.address, 200), s.status, clean(s.messageId, 40), clean(s.reply, 300)]);
  return table(rows, (r, c, padded) =>
    r > 0 && c === 1 ? paint(statusColor(rows[r]![1]!), padded) : padded,
  ).join('\n');
}

function exitFor(verdicts: Verdicts): number {
  const all = verdicts.all();
  if (all.some((s) => FINAL.has(s.status) && s.status !== 'delivered')) return EXIT.failure;
  if (all.some((s) => !FINAL.has(s.status))) return TEMPFAIL;
  return EXIT.ok;
}

/** Submissions in flight at once (the server commits concurrent ones in one sync). */
const SUBMIT_CONCURRENCY = 8;

export const sendCommand: Command = {
  name: 'send',
  summary: 'send a message (or one per CSV row) through the API and wait for the verdicts',
  help: () => HELP,
  run: (args, io) =>
    withApiErrors(io, 'send', async () => {
      const values: Values = usageOr(() => parseSend(args).values);
      const timeoutS = values.timeout === undefined ? DEFAULT_TIMEOUT_S : Number(values.timeout);
      if (!Number.isFinite(timeoutS) || timeoutS <= 0 || timeoutS > MAX_TIMEOUT_S)
        throw new UsageProblem(`--timeout: expected seconds (1..${MAX_TIMEOUT_S}), got "${values.timeout}"`);
      const client = clientFor(values, io);
      let submissions: Submission[];
      try {
        submissions = await compose(values);
      } catch (error) {
        if (!(error instanceof ComposeProblem)) throw error;
        if (/required|give --/.test(error.message)) throw new UsageProblem(error.message);
        io.stderr.write(`mxpress send: ${error.message}\n`);
        return EXIT.dataError;
      }
      const verdicts = new Verdicts();
      const accepted: Accepted[] = [];
      // A few submissions at a time: each waits for a durable commit on the server.
      const results: Accepted[] = new Array(submissions.length);
      let next = 0;
      const worker = async (): Promise<void> => {
        while (next < submissions.length) {
          const at = next++;
          results[at] = await submit(client, submissions[at]!);
        }
      };
      await Promise.all(Array.from({ length: Math.min(SUBMIT_CONCURRENCY, submissions.length) }, worker));
      for (const result of results) {
        accepted.push(result);
        for (const address of result.recipients) verdicts.add(result.id, address);
        for (const r of result.refused) {
          verdicts.add(
            result.id,
            clean(r.address, 200),
            'refused',
            clean([r.code, r.enhanced, r.text].filter(Boolean).join(' ')),
          );
        }
      }
      if (values['no-wait']) {
        if (values.json) io.stdout.write(`${JSON.stringify({ messages: accepted })}\n`);
        else
          for (const a of accepted)
            io.stdout.write(`${clean(a.id)}  ${a.recipients.map((r) => clean(r)).join(', ')}\n`);
        return verdicts.all().some((s) => s.status === 'refused') ? EXIT.failure : EXIT.ok;
      }
      const tty = io.stderr.isTTY === true && !values.json;
      const draw = (): void => {
        if (tty) io.stderr.write(`\r${progressLine(verdicts)}\x1b[K`);
      };
      const interrupt = new AbortController();
      const offSignal = io.onSignal(() => interrupt.abort());
      draw();
      let end: Awaited<ReturnType<typeof waitForVerdicts>>;
      try {
        end = await waitForVerdicts(client, verdicts, {
          timeoutMs: timeoutS * 1000,
          signal: interrupt.signal,
          onChange: draw,
        });
      } finally {
        offSignal();
        if (tty) io.stderr.write('\n');
      }
      if (values.json) {
        io.stdout.write(
          `${JSON.stringify({ end, counts: verdicts.counts(), recipients: verdicts.all() })}\n`,
        );
      } else {
        io.stdout.write(`${report(verdicts, io)}\n`);
        if (end !== 'done')
          io.stderr.write(
            `mxpress send: ${end === 'timeout' ? `no final verdict for some recipients after ${timeoutS} s` : 'interrupted'}; see mxpress status ID\n`,
          );
      }
      return end === 'interrupted' ? EXIT.interrupted : exitFor(verdicts);
    }),
};
