/**
 * `mxpress sendmail [-t] [-i] [-f SENDER] [-F NAME] [--smtp ADDR:PORT] [RCPT...]`:
 * a drop-in for /usr/sbin/sendmail. Reads one message on stdin, makes its line
 * endings CRLF, and submits it over SMTP to the local mxpress (`--smtp`,
 * MXPRESS_SMTP, default 127.0.0.1:2525) with our own SMTP client, no TLS (loopback).
 *
 * Exit codes are sysexits(3), which PHP, cron and git understand: 0 accepted,
 * 64 usage (bad flag, no recipient), 65 the message was refused as data, 67 a
 * recipient was refused (the others are still submitted), 69 the server cannot
 * be reached or refused the sender, 75 a temporary refusal or timeout (try again),
 * 74 stdin could not be read or was too large. stdin is UNTRUSTED (any bytes).
 */
import { hostname, userInfo } from 'node:os';
import type { SmtpReply } from '../../../contracts/status.ts';
import { openSmtpConnection, SmtpClientError } from '../../../delivery/smtp-client/index.ts';
import type { CliIo } from '../io.ts';
import { clean } from './api-common.ts';
import type { Command } from './command.ts';
import { parseSendmailArgs, parseSmtpAddress, SendmailUsage } from './sendmail/args.ts';
import { prepareMessage, toCrlf } from './sendmail/message.ts';

/** sysexits.h values used here. */
export const SYSEXITS = {
  ok: 0,
  usage: 64,
  dataErr: 65,
  noUser: 67,
  unavailable: 69,
  ioErr: 74,
  tempFail: 75,
} as const;

const DEFAULT_SMTP = '127.0.0.1:2525';
/** Largest message read from stdin; the server applies its own (smaller) limit too. */
const MAX_INPUT = 100 * 1024 * 1024;
const MAX_RECIPIENTS = 1000;
const TIMEOUT_MS = 60_000;

const HELP = `Usage: mxpress sendmail [-t] [-i] [-f SENDER] [-F NAME] [--smtp ADDR:PORT] [RECIPIENT...]

Submit one message from stdin to the local mxpress, like /usr/sbin/sendmail.

  -t               take recipients from To, Cc and Bcc (Bcc is removed); recipients
                   given as arguments are added
  -i, -oi          a line with a single "." does not end the message
  -f SENDER        envelope sender (default: MXPRESS_SENDER, else USER@HOSTNAME)
  -F NAME          full name for the From header added when the message has none
  --smtp ADDR:PORT mxpress SMTP listener (MXPRESS_SMTP, default ${DEFAULT_SMTP})
  -odi -oem -v ... accepted and ignored

Exit codes (sysexits): 0 ok, 64 usage, 65 message refused, 67 recipient refused,
69 server unavailable, 74 input error, 75 temporary failure (try again).
See docs/sendmail.md.`;

async function readInput(io: CliIo): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of io.stdin) {
    const buffer = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    size += buffer.length;
    if (size > MAX_INPUT) throw new RangeError(`the message is larger than ${MAX_INPUT} bytes`);
    chunks.push(buffer);
  }
  // latin1 keeps every byte as one char, so 8-bit bodies pass through unchanged.
  return Buffer.concat(chunks).toString('latin1');
}

function defaultSender(io: CliIo): string {
  if (io.env.MXPRESS_SENDER) return io.env.MXPRESS_SENDER;
  let user = io.env.USER ?? io.env.LOGNAME;
  try {
    user ??= userInfo().username;
  } catch {
    user ??= 'nobody';
  }
  const host = hostname().includes('.') ? hostname() : `${hostname()}.localdomain`;
  return `${user}@${host}`;
}

function say(reply: SmtpReply | undefined): string {
  if (reply === undefined) return 'no reply';
  return clean(`${reply.code}${reply.enhanced ? ` ${reply.enhanced}` : ''} ${reply.text}`, 300);
}

function helo(): string {
  const name = hostname();
  return /^[A-Za-z0-9.-]{1,255}$/.test(name) ? name : 'localhost';
}

async function submit(args: ReturnType<typeof parseSendmailArgs>, io: CliIo): Promise<number> {
  const where = parseSmtpAddress(args.smtp ?? io.env.MXPRESS_SMTP ?? DEFAULT_SMTP);
  let raw: string;
  try {
    raw = await readInput(io);
  } catch (error) {
    io.stderr.write(`mxpress sendmail: cannot read the message: ${(error as Error).message}\n`);
    return SYSEXITS.ioErr;
  }
  const sender = args.sender ?? defaultSender(io);
  const prepared = prepareMessage(toCrlf(raw, args.ignoreDots), {
    takeRecipients: args.takeRecipients,
    sender: sender || `MAILER-DAEMON@${helo()}`,
    ...(args.fullName !== undefined ? { fullName: args.fullName } : {}),
    now: new Date(),
  });
  const recipients = [...new Set([...args.recipients, ...prepared.headerRecipients])];
  if (recipients.length === 0) {
    io.stderr.write('mxpress sendmail: no recipients (give them as arguments, or use -t)\n');
    return SYSEXITS.usage;
  }
  if (recipients.length > MAX_RECIPIENTS) {
    io.stderr.write(`mxpress sendmail: more than ${MAX_RECIPIENTS} recipients\n`);
    return SYSEXITS.usage;
  }
  const body = Buffer.from(prepared.message, 'latin1');
  const timeouts = {
    connectMs: 10_000,
    greetingMs: TIMEOUT_MS,
    ehloMs: TIMEOUT_MS,
    mailMs: TIMEOUT_MS,
    rcptMs: TIMEOUT_MS,
    dataInitMs: TIMEOUT_MS,
    dataBlockMs: TIMEOUT_MS,
    dataTermMs: TIMEOUT_MS,
  };
  let connection: Awaited<ReturnType<typeof openSmtpConnection>>;
  try {
    connection = await openSmtpConnection({
      host: where.host,
      port: where.port,
      mxHost: where.host,
      localHostname: helo(),
      tls: 'none',
      timeouts,
    });
  } catch (error) {
    const reason = error instanceof SmtpClientError ? error.message : String(error);
    io.stderr.write(
      `mxpress sendmail: cannot reach mxpress at ${where.host}:${where.port} (${clean(reason)})\n`,
    );
    return error instanceof SmtpClientError && error.temporary && error.reply
      ? SYSEXITS.tempFail
      : SYSEXITS.unavailable;
  }
  try {
    const eightBit = body.some((b) => b > 127);
    const result = await connection.send({
      mailFrom: sender,
      recipients: recipients.map((address) => ({ address })),
      body,
      size: body.length,
      eightBit,
      smtputf8: recipients.some((r) => /[^\x00-\x7f]/.test(r)) || /[^\x00-\x7f]/.test(sender),
    });
    if (result.mail.code >= 400) {
      io.stderr.write(`mxpress sendmail: sender <${clean(sender)}> refused: ${say(result.mail)}\n`);
      return result.mail.code < 500 ? SYSEXITS.tempFail : SYSEXITS.unavailable;
    }
    const refused = result.recipients.filter((r) => !r.accepted);
    for (const r of refused)
      io.stderr.write(`mxpress sendmail: <${clean(r.address)}> refused: ${say(r.reply)}\n`);
    if (refused.length === result.recipients.length) {
      return refused.every((r) => r.reply.code >= 500) ? SYSEXITS.noUser : SYSEXITS.tempFail;
    }
    const data = result.data;
    if (data === undefined || data.code >= 400) {
      io.stderr.write(`mxpress sendmail: message refused: ${say(data)}\n`);
      return data !== undefined && data.code >= 500 ? SYSEXITS.dataErr : SYSEXITS.tempFail;
    }
    if (args.verbose) io.stderr.write(`mxpress sendmail: ${say(data)}\n`);
    await connection.quit().catch(() => undefined);
    if (refused.length === 0) return SYSEXITS.ok;
    return refused.some((r) => r.reply.code >= 500) ? SYSEXITS.noUser : SYSEXITS.tempFail;
  } catch (error) {
    io.stderr.write(`mxpress sendmail: submission failed: ${clean((error as Error).message)}\n`);
    return SYSEXITS.tempFail;
  } finally {
    connection.destroy();
  }
}

export const sendmailCommand: Command = {
  name: 'sendmail',
  summary: 'submit a message from stdin like /usr/sbin/sendmail',
  help: () => HELP,
  async run(args, io) {
    try {
      return await submit(parseSendmailArgs(args), io);
    } catch (error) {
      if (error instanceof SendmailUsage) {
        io.stderr.write(`mxpress sendmail: ${error.message}; see mxpress sendmail --help\n`);
        return SYSEXITS.usage;
      }
      throw error;
    }
  },
};
