/**
 * SMTP command line splitting (RFC 5321 4.1.1) and the EHLO/HELO argument check.
 *
 * In: one command line WITHOUT its CRLF, as sent by the client (UNTRUSTED; its length
 * is already bounded by the session). Out: the upper-cased keyword, the Verb when it
 * is one we know (looked up in a Set, never as an object key), and the arguments.
 * Never throws. Only ASCII letters are upper-cased, so "ſ" or "ß" cannot turn into a
 * verb. parseHeloArgument returns a ParseResult: 501 5.5.4 for anything that is not a
 * Domain or an address literal.
 */
import { type ParseResult, parseAddressLiteral, parseDomain, parseError, parseOk } from './address.ts';

export type Verb =
  | 'HELO'
  | 'EHLO'
  | 'MAIL'
  | 'RCPT'
  | 'DATA'
  | 'BDAT'
  | 'RSET'
  | 'NOOP'
  | 'QUIT'
  | 'VRFY'
  | 'EXPN'
  | 'HELP'
  | 'STARTTLS'
  | 'AUTH';

export interface CommandLine {
  readonly verb: Verb | null;
  readonly keyword: string;
  readonly args: string;
}

const VERBS: ReadonlySet<string> = new Set<Verb>([
  'HELO',
  'EHLO',
  'MAIL',
  'RCPT',
  'DATA',
  'BDAT',
  'RSET',
  'NOOP',
  'QUIT',
  'VRFY',
  'EXPN',
  'HELP',
  'STARTTLS',
  'AUTH',
]);

function isVerb(keyword: string): keyword is Verb {
  return VERBS.has(keyword);
}

/**
 * Splits "MAIL FROM:<a@b>" into verb MAIL and args "FROM:<a@b>". The keyword is the
 * text before the first space, ASCII upper-cased; args is everything after that ONE
 * space with trailing spaces and tabs removed (leading ones are kept, so the argument
 * parsers can refuse "MAIL  FROM:").
 */
export function parseCommandLine(line: string): CommandLine {
  const space = line.indexOf(' ');
  const word = space < 0 ? line : line.slice(0, space);
  const keyword = word.replace(/[a-z]+/g, (s) => s.toUpperCase());
  let args = space < 0 ? '' : line.slice(space + 1);
  let end = args.length;
  while (end > 0 && (args.charCodeAt(end - 1) === 0x20 || args.charCodeAt(end - 1) === 0x09)) end--;
  if (end < args.length) args = args.slice(0, end);
  return { verb: isVerb(keyword) ? keyword : null, keyword, args };
}

/**
 * Validates an EHLO/HELO argument: a Domain (LDH labels; U-labels only when
 * options.allowUtf8, which a server offering SMTPUTF8 may choose) or an address
 * literal [192.0.2.1] / [IPv6:...]. The value returned is the argument as sent.
 */
export function parseHeloArgument(
  args: string,
  options: { readonly allowUtf8: boolean } = { allowUtf8: false },
): ParseResult<string> {
  if (args === '') return parseError(501, '5.5.4', 'Syntax: EHLO hostname');
  if (args.includes(' ')) return parseError(501, '5.5.4', 'Invalid domain name');
  const checked = args.startsWith('[') ? parseAddressLiteral(args) : parseDomain(args, options.allowUtf8);
  if (!checked.ok) return parseError(501, '5.5.4', 'Invalid domain name');
  return parseOk(args);
}
