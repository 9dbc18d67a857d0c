/**
 * sendmail-style command line for `mxpress sendmail`: `-t`, `-i`/`-oi`,
 * `-f ADDR`/`-fADDR`, `-F NAME`/`-FNAME`, `-r ADDR` (old alias of -f), common flags
 * that change nothing here (`-odi -odb -oem -oee -v -bm -U -n -oQ...`), our
 * `--smtp ADDR:PORT`, and recipients as the remaining words.
 *
 * In: argv after the command word. Out: `SendmailArgs` or a thrown `SendmailUsage`
 * naming the flag. Pure.
 */

export class SendmailUsage extends Error {}

export interface SendmailArgs {
  readonly takeRecipients: boolean;
  readonly ignoreDots: boolean;
  readonly sender?: string;
  readonly fullName?: string;
  readonly smtp?: string;
  readonly recipients: readonly string[];
  readonly verbose: boolean;
}

/** Flags accepted and ignored (delivery mode, error mode, queue options, "be" modes). */
const IGNORED = /^-(o[dDeQ].*|oem|oee|oep|oeq|oew|om|ob.*|v|bm|U|n|G|L.*|N.*|R.*|V.*|X.*|B.*|C.*|h.*)$/;

export function parseSendmailArgs(args: readonly string[]): SendmailArgs {
  let takeRecipients = false;
  let ignoreDots = false;
  let verbose = false;
  let sender: string | undefined;
  let fullName: string | undefined;
  let smtp: string | undefined;
  const recipients: string[] = [];
  const value = (i: number, flag: string): string => {
    const next = args[i + 1];
    if (next === undefined) throw new SendmailUsage(`${flag} needs a value`);
    return next;
  };
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === '--') {
      recipients.push(...args.slice(i + 1));
      break;
    }
    if (!arg.startsWith('-') || arg === '-') {
      recipients.push(arg);
      continue;
    }
    if (arg === '-t') takeRecipients = true;
    else if (arg === '-i' || arg === '-oi') ignoreDots = true;
    else if (arg === '-f' || arg === '-r') sender = value(i++, arg);
    else if (/^-[fr]./.test(arg)) sender = arg.slice(2);
    else if (arg === '-F') fullName = value(i++, arg);
    else if (arg.startsWith('-F')) fullName = arg.slice(2);
    else if (arg === '--smtp') smtp = value(i++, arg);
    else if (arg.startsWith('--smtp=')) smtp = arg.slice('--smtp='.length);
    else if (arg === '-bs' || arg === '-bd' || arg === '-bp' || arg === '-q') {
      throw new SendmailUsage(`${arg} (daemon, queue and SMTP-on-stdin modes) is not supported`);
    } else if (arg === '-v') verbose = true;
    else if (IGNORED.test(arg)) {
      // Accepted for compatibility; mxpress always delivers in the background.
    } else throw new SendmailUsage(`unknown flag ${arg}`);
  }
  if (sender === '<>') sender = '';
  return {
    takeRecipients,
    ignoreDots,
    verbose,
    recipients,
    ...(sender !== undefined ? { sender } : {}),
    ...(fullName !== undefined ? { fullName } : {}),
    ...(smtp !== undefined ? { smtp } : {}),
  };
}

/** `127.0.0.1:2525`, `[::1]:2525`, `localhost:2525`: host as an IP and a port. */
export function parseSmtpAddress(text: string): { host: string; port: number } {
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([^:\s]+)):(\d{1,5})$/.exec(text.trim());
  const port = Number(match?.[3]);
  if (!match || port < 1 || port > 65535) {
    throw new SendmailUsage(`--smtp: expected ADDR:PORT such as 127.0.0.1:2525, got "${text}"`);
  }
  let host = (match[1] ?? match[2])!;
  if (host === 'localhost') host = '127.0.0.1';
  return { host, port };
}
