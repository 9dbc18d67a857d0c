/**
 * SMTP verbs (RFC 5321, 3030, 3207, 3461, 4954, 6152, 6531, 1870, 2920), one handler each.
 *
 * Dispatched through a typed `Record<Verb, Handler>`; each handler checks the
 * session phase, parses its (UNTRUSTED) arguments with protocol/ parsers and
 * answers with an enhanced status code. Mail is accepted only through
 * ingress/accept.ts, and the 250 for DATA/BDAT LAST is written only after it
 * resolved. Improper pipelining (bytes after DATA, STARTTLS or before PIPELINING
 * was negotiated) closes the connection: that is where smuggling lives.
 */
import type { BodyType, EnvelopeInput, Origin } from '../../contracts/envelope.ts';
import { formatMailbox } from '../../protocol/address.ts';
import { type CommandLine, parseCommandLine, parseHeloArgument, type Verb } from '../../protocol/command.ts';
import { ContentChecker } from '../../protocol/content-checker.ts';
import { DataDecoder, type DataViolation } from '../../protocol/data-decoder.ts';
import { toMxError } from '../../protocol/errors.ts';
import { type MailFrom, parseMailFrom, parseRcptTo } from '../../protocol/mail-params.ts';
import { formatReply } from '../../protocol/reply.ts';
import type { ClientFacts, Refusal } from '../abuse/abuse-guard.ts';
import type { AcceptedMessage } from '../accept.ts';
import { decideRelay } from '../relay-policy.ts';
import { startAuth } from './auth.ts';
import type { SmtpSession } from './session.ts';
import { syncReply } from './sync-reply.ts';

type Handler = (session: SmtpSession, args: string, command: CommandLine) => void;

/** The frequent constant replies, formatted once. */
const OK = formatReply(250, '2.0.0', 'Ok');
const MAIL_OK = formatReply(250, '2.1.0', 'Ok');
const RCPT_OK = formatReply(250, '2.1.5', 'Ok');
const GO_AHEAD = formatReply(354, undefined, 'End data with <CR><LF>.<CR><LF>');

/** Commands after which the client must wait for our reply (RFC 2920 section 3.1). */
const GROUP_ENDERS: ReadonlySet<Verb> = new Set(['DATA', 'STARTTLS', 'EHLO', 'HELO']);

export function dispatchCommand(session: SmtpSession, line: string): void {
  const command = parseCommandLine(line);
  if (command.verb === null) {
    session.clientError(500, '5.5.2', 'Error: command not recognized');
    return;
  }
  if (session.hasPendingInput) {
    // Pipelining only after EHLO advertised it; never past a command that ends a group.
    if (!session.esmtp && command.verb !== 'QUIT') {
      session.closeWith(554, '5.5.0', 'Error: command pipelining was not negotiated; use EHLO');
      return;
    }
    if (GROUP_ENDERS.has(command.verb)) {
      session.closeWith(554, '5.5.0', `Error: improper command pipelining after ${command.verb}`);
      return;
    }
  }
  HANDLERS[command.verb](session, command.args, command);
}

const HANDLERS: Record<Verb, Handler> = {
  HELO: (s, args) => greet(s, args, false),
  EHLO: (s, args) => greet(s, args, true),
  MAIL: mail,
  RCPT: rcpt,
  DATA: data,
  BDAT: bdat,
  RSET: (s, args) => {
    if (args !== '') return s.clientError(501, '5.5.4', 'Syntax: RSET');
    s.resetTransaction();
    s.replyFormatted(OK);
  },
  NOOP: (s) => s.replyFormatted(OK),
  QUIT: (s) => s.closeWith(221, '2.0.0', `${s.env.hostname} closing connection`, true),
  VRFY: (s) => s.reply(252, '2.5.0', 'Cannot VRFY user, but will accept message and attempt delivery'),
  EXPN: (s) => s.reply(502, '5.5.1', 'Error: EXPN is not supported'),
  HELP: (s) =>
    s.reply(
      214,
      '2.0.0',
      'See RFC 5321; mxpress supports EHLO HELO MAIL RCPT DATA BDAT RSET NOOP VRFY QUIT STARTTLS AUTH',
    ),
  STARTTLS: starttls,
  AUTH: (s, args) => startAuth(s, args),
};

function greet(s: SmtpSession, args: string, esmtp: boolean): void {
  const parsed = parseHeloArgument(args);
  // Real clients send names like DESKTOP_7 or "localhost."; accept any one printable token, as
  // long-lived MTAs do, and keep the strict result when there is one.
  const lenient = /^[\x21-\x7e]{1,255}$/.test(args) ? args : undefined;
  if (!parsed.ok && !lenient)
    return s.clientError(501, '5.5.4', `Syntax: ${esmtp ? 'EHLO' : 'HELO'} hostname`);
  s.resetTransaction();
  s.helo = parsed.ok ? parsed.value : lenient!;
  s.esmtp = esmtp;
  const hello = `${s.env.hostname} Hello [${s.remoteAddress}]`;
  if (!esmtp) return s.reply(250, undefined, hello);
  const lines = [
    hello,
    'PIPELINING',
    `SIZE ${s.env.limits.maxMessageSize}`,
    '8BITMIME',
    'SMTPUTF8',
    'ENHANCEDSTATUSCODES',
    'CHUNKING',
    'DSN',
  ];
  if (!s.tls && s.env.secureContext && s.env.listener.tls === 'starttls') lines.push('STARTTLS');
  if (authOffered(s)) lines.push('AUTH PLAIN LOGIN');
  s.reply(250, undefined, lines);
}

export function authOffered(s: SmtpSession): boolean {
  return s.env.authAvailable && (s.tls !== undefined || s.loopback);
}

function mail(s: SmtpSession, args: string): void {
  if (!s.helo) return s.clientError(503, '5.5.1', 'Error: send HELO/EHLO first');
  if (s.tx) return s.clientError(503, '5.5.1', 'Error: nested MAIL command');
  if (s.env.listener.requireAuth && !s.authUser)
    return s.clientError(530, '5.7.0', 'Authentication required');
  if (s.messages >= s.env.limits.maxMessagesPerConnection) {
    return s.closeWith(
      421,
      '4.7.0',
      `${s.env.hostname} Error: too many messages in one connection; reconnect`,
    );
  }
  const parsed = parseMailFrom(args, { utf8: s.esmtp, dsn: s.esmtp });
  if (!parsed.ok) return s.clientError(parsed.code, parsed.enhanced, parsed.message);
  const mailFrom = parsed.value;
  const sender = senderOf(mailFrom);
  const notAllowed = s.env.abuse?.checkSender(s.authUser, sender);
  if (notAllowed) return abuseRefusal(s, notAllowed, 'sender not allowed for user');
  const limit = s.env.limits.maxMessageSize;
  if (mailFrom.size !== undefined && mailFrom.size > limit) {
    return s.reply(552, '5.3.4', `Message size exceeds fixed maximum message size (${limit})`);
  }
  const needed = (mailFrom.size ?? 0) + s.env.limits.minFreeBytes;
  const free = s.env.freeBytes();
  if (free < needed) {
    s.env.log('warn', 'refusing mail: spool disk nearly full', { free, needed });
    return s.reply(452, '4.3.1', 'Insufficient system storage, try again later');
  }
  // Counted last, so a MAIL refused for another reason costs the client nothing.
  const limited = s.env.abuse?.checkMessage(clientFacts(s), sender);
  if (limited) return abuseRefusal(s, limited, 'message rate limit');
  s.tx = { mail: mailFrom, recipients: [] };
  s.replyFormatted(MAIL_OK);
}

function rcpt(s: SmtpSession, args: string): void {
  const tx = s.tx;
  if (!tx) return s.clientError(503, '5.5.1', 'Error: need MAIL before RCPT');
  if (tx.bdat) return s.clientError(503, '5.5.1', 'Error: RCPT after BDAT');
  const parsed = parseRcptTo(args, { utf8: tx.mail.smtputf8, dsn: s.esmtp });
  if (!parsed.ok) return s.clientError(parsed.code, parsed.enhanced, parsed.message);
  const to = parsed.value;
  if (to.postmaster) return s.reply(550, '5.1.1', 'Error: mxpress holds no local mailboxes; name a domain');
  if (tx.recipients.length >= s.env.limits.maxRecipients) {
    return s.reply(452, '4.5.3', 'Error: too many recipients; send the rest in another transaction');
  }
  const relay = decideRelay({ trusted: s.trusted, authenticated: s.authUser !== undefined });
  if (!relay.allowed) {
    s.env.log('info', 'relay denied', { client: s.remoteAddress, rcptDomain: to.forwardPath.domain });
    return s.clientError(554, '5.7.1', relay.reason);
  }
  const address = formatMailbox(to.forwardPath);
  const refusal = s.env.refuseRecipient?.(address);
  if (refusal) return s.reply(refusal.code, refusal.enhanced, refusal.text);
  const limited = s.env.abuse?.checkRecipient(clientFacts(s), senderOf(tx.mail), address);
  if (limited) return abuseRefusal(s, limited, 'recipient rate limit');
  tx.recipients.push({
    address,
    ...(to.notify !== undefined ? { notify: to.notify } : {}),
    ...(to.orcpt !== undefined ? { orcpt: to.orcpt } : {}),
  });
  s.replyFormatted(RCPT_OK);
}

function senderOf(mail: MailFrom): string {
  return mail.reversePath ? formatMailbox(mail.reversePath) : '';
}

function clientFacts(s: SmtpSession): ClientFacts {
  return { ip: s.remoteAddress, trusted: s.trusted, user: s.authUser };
}

/** Rate limits answer 4xx (the client retries later); they do not count as client errors. */
function abuseRefusal(s: SmtpSession, refusal: Refusal, why: string): void {
  s.env.log('info', `refused: ${why}`, { client: s.remoteAddress, user: s.authUser, code: refusal.code });
  s.reply(refusal.code, refusal.enhanced, refusal.text);
}

function data(s: SmtpSession, args: string): void {
  const tx = s.tx;
  if (args !== '') return s.clientError(501, '5.5.4', 'Syntax: DATA');
  if (!tx) return s.clientError(503, '5.5.1', 'Error: need MAIL command');
  if (tx.bdat) return s.clientError(503, '5.5.1', 'Error: DATA after BDAT');
  if (tx.recipients.length === 0) return s.clientError(554, '5.5.1', 'Error: no valid recipients');
  s.decoder = new DataDecoder({
    policy: s.env.lineEndings,
    maxBytes: s.env.limits.maxMessageSize,
    maxLineLength: s.env.limits.maxLineLength,
    maxHeaderBytes: s.env.limits.maxHeaderBytes,
  });
  s.dataChunks = [];
  s.phase = 'data';
  s.replyFormatted(GO_AHEAD);
}

/** Called by the session when the DATA terminator was read. */
export function finishData(s: SmtpSession): void {
  const decoder = s.decoder!;
  const chunks = s.dataChunks;
  s.decoder = undefined;
  s.dataChunks = [];
  const violation = decoder.violation;
  if (violation) {
    s.resetTransaction();
    const [code, enhanced, text] = violationReply(
      violation,
      s.env.limits.maxMessageSize,
      s.env.limits.maxLineLength,
    );
    return s.reply(code, enhanced, text);
  }
  commit(s, chunks);
}

function bdat(s: SmtpSession, args: string): void {
  const match = /^(\d{1,15})(?: (LAST))?$/i.exec(args);
  if (!match)
    return s.closeWith(501, '5.5.4', 'Syntax: BDAT size [LAST]; closing since the chunk cannot be skipped');
  const size = Number(match[1]);
  s.bdatRemaining = size;
  s.bdatLast = match[2] !== undefined;
  const tx = s.tx;
  if (tx && tx.recipients.length > 0 && !tx.bdat) {
    tx.bdat = {
      chunks: [],
      received: 0,
      checker: new ContentChecker({
        policy: s.env.lineEndings,
        maxBytes: s.env.limits.maxMessageSize,
        maxLineLength: s.env.limits.maxLineLength,
        maxHeaderBytes: s.env.limits.maxHeaderBytes,
      }),
    };
  }
  if (size > 0) s.phase = 'bdat';
  else finishBdatChunk(s);
}

/** Called when a BDAT chunk's bytes have all been read (the chunk is consumed even when refused). */
export function finishBdatChunk(s: SmtpSession): void {
  const tx = s.tx;
  if (!tx) return s.clientError(503, '5.5.1', 'Error: need MAIL command');
  if (!tx.bdat) return s.clientError(554, '5.5.1', 'Error: no valid recipients');
  const bdatState = tx.bdat;
  const last = s.bdatLast;
  if (bdatState.failed) {
    // RFC 3030: the client should RSET after a refused chunk; LAST ends the transaction anyway.
    if (last) s.resetTransaction();
    return s.reply(503, '5.5.1', 'Error: transaction failed earlier; send RSET');
  }
  const checker = bdatState.checker;
  if (last) checker.end();
  const violation = checker.violation;
  if (violation) {
    const [code, enhanced, text] = violationReply(
      violation,
      s.env.limits.maxMessageSize,
      s.env.limits.maxLineLength,
    );
    if (last) s.resetTransaction();
    else {
      bdatState.failed = text;
      bdatState.chunks = [];
    }
    return s.reply(code, enhanced, text);
  }
  if (!last) return s.reply(250, '2.0.0', `${bdatState.received} octets received`);
  commit(s, bdatState.chunks);
}

function commit(s: SmtpSession, content: Buffer[]): void {
  const tx = s.tx!;
  s.resetTransaction();
  s.messages++;
  const envelope: EnvelopeInput = {
    mailFrom: tx.mail.reversePath ? formatMailbox(tx.mail.reversePath) : '',
    recipients: tx.recipients,
    bodyType: (tx.mail.body ?? '7BIT') as BodyType,
    smtputf8: tx.mail.smtputf8,
    ...(tx.mail.ret !== undefined ? { ret: tx.mail.ret } : {}),
    ...(tx.mail.envid !== undefined ? { envid: tx.mail.envid } : {}),
    ...(tx.mail.size !== undefined ? { declaredSize: tx.mail.size } : {}),
  };
  const origin: Origin = {
    kind: 'smtp',
    listener: s.env.listener.name,
    clientIp: s.remoteAddress,
    clientPort: s.remotePort,
    helo: s.helo ?? '',
    ...(s.authUser !== undefined ? { authUser: s.authUser } : {}),
    ...(s.tls !== undefined ? { tls: s.tls } : {}),
    protocol: withProtocol(s, tx.mail.smtputf8),
  };
  void s.runBusy(async () => {
    let accepted: AcceptedMessage;
    const started = performance.now();
    try {
      accepted = await s.env.acceptor.accept({
        envelope,
        origin,
        content,
        tags: { deliveryMode: s.env.listener.deliveryMode },
      });
    } catch (error) {
      const mx = toMxError(error);
      s.env.log(mx.temporary ? 'warn' : 'info', 'message not accepted', {
        code: mx.code,
        error: String(mx.cause ?? mx.message),
      });
      return s.reply(mx.smtpCode, mx.enhancedCode, mx.message);
    }
    s.env.observeAcceptLatency?.(performance.now() - started);
    const sync = s.env.listener.deliveryMode === 'sync' ? s.env.sync : undefined;
    // Queue ids are our own (letters and digits): no formatting needed.
    if (!sync) return s.replyFormatted(`250 2.0.0 Ok: queued as ${accepted.id}\r\n`);
    // The message is durable from here on: whatever happens, the client hears 250 or the remote's refusal.
    let refusal = false;
    try {
      const outcome = await sync.outcome(accepted.id, s.env.listener.syncBudgetMs);
      const answer = syncReply(
        accepted.id,
        envelope.recipients.map((r) => r.address),
        outcome,
      );
      refusal = answer.refusal;
      s.reply(answer.code, answer.enhanced, answer.text);
    } catch {
      s.reply(250, '2.0.0', `Ok: queued as ${accepted.id}`);
    } finally {
      sync.answered(accepted.id, refusal);
    }
  });
}

/** RFC 3848 / RFC 6531 with-protocol keyword for the Received header. */
function withProtocol(s: SmtpSession, utf8: boolean): string {
  if (!s.esmtp) return 'SMTP';
  return `${utf8 ? 'UTF8SMTP' : 'ESMTP'}${s.tls ? 'S' : ''}${s.authUser ? 'A' : ''}`;
}

function violationReply(v: DataViolation, maxSize: number, maxLine: number): [number, string, string] {
  switch (v) {
    case 'too-big':
      return [552, '5.3.4', `Error: message exceeds the maximum size of ${maxSize} bytes`];
    case 'line-too-long':
      return [554, '5.6.0', `Error: message has a line longer than ${maxLine} octets`];
    case 'header-too-big':
      return [552, '5.3.4', 'Error: message header section too large'];
    case 'nul':
      return [554, '5.6.0', 'Error: message contains NUL characters'];
    case 'bare-lf':
    case 'bare-cr':
      return [554, '5.6.0', 'Error: bare CR or LF in message; lines must end with CRLF'];
    default: {
      const never: never = v;
      return [554, '5.6.0', `Error: ${String(never)}`];
    }
  }
}

function starttls(s: SmtpSession, args: string): void {
  if (args !== '') return s.clientError(501, '5.5.4', 'Syntax: STARTTLS');
  if (s.tls) return s.clientError(503, '5.5.1', 'Error: TLS already active');
  const context = s.env.secureContext;
  if (!context || s.env.listener.tls !== 'starttls')
    return s.clientError(502, '5.5.1', 'Error: STARTTLS not available');
  s.reply(220, '2.0.0', 'Ready to start TLS');
  s.startTls(context);
}
