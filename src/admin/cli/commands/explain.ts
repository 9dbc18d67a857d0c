/**
 * `mxpress explain "<reply or error>" [--json]`: says what a delivery failure means.
 *
 * In: an SMTP reply ("550 5.1.1 User unknown", a multi-line reply, a bounce line)
 * or a local error ("ECONNREFUSED", "connect ETIMEDOUT 192.0.2.1:25", "Error:
 * certificate has expired") as arguments (several words are joined), or from stdin
 * with `-` (at most 64 KiB, within 5 minutes). Out: hard or soft, the category, the
 * cause and what to do, as text or one JSON object. Works offline: it runs the same
 * classifier as the server (feedback/classify.ts), built-in rules only.
 * The text is UNTRUSTED paste; the classifier caps and checks it.
 * Exit 0 when explained, 65 (EX_DATAERR) when the text holds neither a reply nor an
 * error code, 64 for bad arguments.
 */
import { parseArgs } from 'node:util';
import { classify, parseExplainInput } from '../../../feedback/classify.ts';
import { type CliIo, EXIT, type InputStream } from '../io.ts';
import type { Command } from './command.ts';
import { UsageProblem, usageOr } from './usage.ts';

const MAX_STDIN_CHARS = 65_536;
const STDIN_TIMEOUT_MS = 300_000;
const WIDTH = 78;

/** Reads stdin up to the size limit; rejects with a UsageProblem when it takes too long. */
async function readStdin(stdin: InputStream): Promise<string> {
  const iterator = stdin[Symbol.asyncIterator]();
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), STDIN_TIMEOUT_MS);
  });
  let text = '';
  try {
    while (text.length < MAX_STDIN_CHARS) {
      const next = await Promise.race([iterator.next(), timeout]);
      if (next === 'timeout') throw new UsageProblem('no input on stdin within 5 minutes');
      if (next.done) break;
      text += typeof next.value === 'string' ? next.value : next.value.toString('utf8');
    }
  } finally {
    clearTimeout(timer);
    await iterator.return?.()?.catch(() => undefined);
  }
  return text.slice(0, MAX_STDIN_CHARS);
}

/** Wraps prose at word boundaries for a terminal, indenting continuation lines under the label. */
function wrap(label: string, text: string): string {
  const indent = ' '.repeat(label.length);
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/).filter((w) => w !== '')) {
    if (line !== '' && label.length + line.length + 1 + word.length > WIDTH) {
      lines.push(line);
      line = word;
    } else {
      line = line === '' ? word : `${line} ${word}`;
    }
  }
  lines.push(line);
  return lines.map((l, i) => (i === 0 ? label : indent) + l).join('\n');
}

function oneLine(text: string, max = 200): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > max ? `${flat.slice(0, max - 3)}...` : flat;
}

function headline(severity: 'hard' | 'soft', replyCode: number | undefined): [string, string] {
  if (severity === 'hard')
    return ['Hard bounce', 'Retrying or sending the same message again will not help.'];
  if (replyCode !== undefined && replyCode >= 500) {
    return [
      'Soft bounce',
      'The server refused this attempt for good, but the address is not at fault: once the cause is fixed, the same mail can go through.',
    ];
  }
  return ['Soft failure', 'Usually temporary: mxpress keeps retrying until the message expires.'];
}

function parseExplainArgs(args: readonly string[]) {
  return usageOr(() =>
    parseArgs({
      args: [...args],
      allowPositionals: true,
      strict: true,
      options: { json: { type: 'boolean' } },
    }),
  );
}

export const explainCommand: Command = {
  name: 'explain',
  summary: 'explain an SMTP reply or delivery error (hard/soft, cause, what to do)',
  help: () =>
    [
      'Usage: mxpress explain "<SMTP reply or error>" [--json]',
      '       mxpress explain - [--json]      (read the text from stdin)',
      '',
      'Says whether a delivery failure is hard (retrying will not help) or soft, what caused',
      'it and what you can do. Paste a server reply or a bounce line, or a local error:',
      '',
      '  mxpress explain "550 5.1.1 User unknown"',
      '  mxpress explain "452-4.2.2 The email account that you tried to reach is over quota"',
      '  mxpress explain ECONNREFUSED',
      '  mxpress explain "connect ETIMEDOUT 192.0.2.1:25"',
      '  mxpress explain "Error: certificate has expired"',
      '',
      'Works offline; no server needed. docs/errors-faq.md lists every category.',
      '',
      '  --json   print one JSON object: severity, category, explanation, rule, input',
      '',
      'Exit codes: 0 explained, 65 no reply or error code found in the text, 64 usage error.',
    ].join('\n'),

  async run(args: readonly string[], io: CliIo): Promise<number> {
    let text: string;
    let json: boolean;
    try {
      const parsed = parseExplainArgs(args);
      json = parsed.values.json === true;
      const words = parsed.positionals;
      if (words.length === 0) {
        throw new UsageProblem('what should I explain? e.g. mxpress explain "550 5.1.1 User unknown"');
      }
      if (words.length === 1 && words[0] === '-') {
        if (io.stdin.isTTY) io.stderr.write('Paste the reply or error, then press Ctrl-D.\n');
        text = await readStdin(io.stdin);
      } else {
        text = words.join(' ');
      }
    } catch (error) {
      if (!(error instanceof UsageProblem)) throw error;
      io.stderr.write(`mxpress explain: ${error.message}\n`);
      return EXIT.usage;
    }

    const input = parseExplainInput(text);
    if (input === undefined) {
      io.stderr.write(
        `mxpress explain: found no SMTP reply or error code in "${oneLine(text, 80)}"; expected a reply ` +
          'such as "550 5.1.1 User unknown" (a 3-digit code, optionally an x.y.z status code, and the text) ' +
          'or an error code such as ECONNREFUSED, ETIMEDOUT or CERT_HAS_EXPIRED\n',
      );
      return EXIT.dataError;
    }
    const verdict = classify(input);
    if (json) {
      io.stdout.write(`${JSON.stringify({ ...verdict, input })}\n`);
      return EXIT.ok;
    }
    const [kind, meaning] = headline(verdict.severity, input.reply?.code);
    const out: string[] = [];
    if (input.reply) {
      const { code, enhanced, text: replyText } = input.reply;
      out.push(wrap('Reply:       ', oneLine([code, enhanced, replyText].filter((p) => p).join(' '))));
    }
    if (input.errorCode) out.push(`Error code:  ${input.errorCode}`);
    out.push(
      '',
      `${kind}: ${verdict.explanation.title} [${verdict.category}]`,
      wrap('', meaning),
      '',
      wrap('Cause:       ', verdict.explanation.cause),
      wrap('What to do:  ', verdict.explanation.action),
      '',
      `(rule ${verdict.rule})`,
    );
    io.stdout.write(`${out.join('\n')}\n`);
    return EXIT.ok;
  },
};
