/**
 * Turns what an SMTP transaction produced into one outcome per recipient.
 *
 * Pure. Scope (RFC 5321 and long MTA practice): a refused RCPT concerns that
 * recipient; a refused MAIL or DATA concerns the message; a 421 or a broken
 * connection concerns the session; failing to reach any MX concerns the site.
 * 5xx is permanent (`failed`), 4xx and replyless failures are temporary
 * (`deferred`): a local bug or a cut connection never turns into a bounce.
 */
import {
  type Attempt,
  CONNECTION_RESET_CODES,
  type FailureScope,
  type SmtpReply,
} from '../contracts/status.ts';
import { type DeliveryJob, type OutcomeKind, outcomeForAll, type RecipientOutcome } from './job.ts';
import { describeReply, type SmtpClientError } from './smtp-client/errors.ts';
import type { SmtpConnection, TransactionResult } from './smtp-client/types.ts';

export interface AttemptContext {
  readonly startedAt: number;
  readonly finishedAt: number;
  readonly route: string;
  readonly connection?: Pick<SmtpConnection, 'mxHost' | 'ip' | 'port' | 'tls'>;
  /** When no connection exists (connect failed), where we tried last. */
  readonly target?: { readonly mxHost: string; readonly ip: string; readonly port: number };
}

function kindOf(reply: SmtpReply): OutcomeKind {
  if (reply.code >= 200 && reply.code < 300) return 'delivered';
  return reply.code >= 500 ? 'failed' : 'deferred';
}

function attemptRecord(
  ctx: AttemptContext,
  outcome: OutcomeKind,
  reply: SmtpReply | undefined,
  scope: FailureScope | undefined,
  errorCode?: string,
): Attempt {
  const c = ctx.connection ?? ctx.target;
  const tls = ctx.connection?.tls;
  return {
    at: ctx.startedAt,
    durationMs: ctx.finishedAt - ctx.startedAt,
    route: ctx.route,
    outcome,
    ...(c ? { mxHost: c.mxHost, ip: c.ip, port: c.port } : {}),
    ...(tls ? { tls: { protocol: tls.protocol, cipher: tls.cipher } } : {}),
    ...(reply ? { reply } : {}),
    ...(scope ? { scope } : {}),
    ...(errorCode ? { errorCode } : {}),
  };
}

export function outcomesFromResult(
  job: DeliveryJob,
  result: TransactionResult,
  ctx: AttemptContext,
): RecipientOutcome[] {
  const byAddress = new Map<string, { reply: SmtpReply; accepted: boolean }[]>();
  for (const r of result.recipients) {
    const list = byAddress.get(r.address) ?? [];
    list.push(r);
    byAddress.set(r.address, list);
  }
  const mailOk = result.mail.code >= 200 && result.mail.code < 300;
  return job.recipients.map((recipient) => {
    const rcpt = byAddress.get(recipient.address)?.shift();
    let reply: SmtpReply;
    let scope: FailureScope | 'none';
    if (!mailOk || result.local) {
      reply = result.local ? (rcpt?.reply ?? result.mail) : result.mail;
      scope = result.mail.code === 421 ? 'session' : 'message';
    } else if (!rcpt) {
      reply = { code: 451, enhanced: '4.3.0', text: 'No reply for this recipient' };
      scope = 'session';
    } else if (!rcpt.accepted) {
      reply = rcpt.reply;
      scope = reply.code === 421 ? 'session' : 'recipient';
    } else if (result.data) {
      reply = result.data;
      scope = kindOf(reply) === 'delivered' ? 'none' : reply.code === 421 ? 'session' : 'message';
    } else {
      reply = { code: 451, enhanced: '4.3.0', text: 'Transaction ended before DATA' };
      scope = 'session';
    }
    const kind = kindOf(reply);
    return {
      index: recipient.index,
      address: recipient.address,
      kind,
      reply,
      scope,
      route: ctx.route,
      attempt: attemptRecord(ctx, kind, reply, scope === 'none' ? undefined : scope),
    };
  });
}

/** A session-level failure (connect, TLS, timeout, hang-up) for every recipient of the job. */
export function outcomesFromError(
  job: DeliveryJob,
  error: SmtpClientError,
  ctx: AttemptContext,
  scope: FailureScope,
): RecipientOutcome[] {
  const reply: SmtpReply = error.reply ?? {
    code: error.temporary ? 451 : 554,
    enhanced: `${error.temporary ? 4 : 5}.${standInStatus(error.code)}`,
    text: `${error.code} during ${error.phase}: ${error.message}`.slice(0, 300),
  };
  const kind: OutcomeKind = error.temporary || reply.code < 500 ? 'deferred' : 'failed';
  const attempt = attemptRecord(ctx, kind, error.reply, scope, error.code);
  return outcomeForAll(job, kind, reply, { attempt, errorCode: error.code, scope, route: ctx.route });
}

/** The server hung up (`CLOSED`) or the connection broke. */
const BAD_CONNECTION = new Set(['CLOSED', ...CONNECTION_RESET_CODES]);
/** mxpress's own failures while sending (`SmtpClientErrorCode` in smtp-client/errors.ts). */
const OURS = new Set(['LOCAL', 'BUSY', 'INVALID']);

/**
 * The subject and detail (RFC 3463) of the reply a failure without one stands in with,
 * which the API, the events and RFC 3464 reports show: X.4.2 bad connection (the server
 * hung up), X.7.5 TLS failed or was required and not offered (the client reports every
 * handshake and certificate failure as TLS_FAILED; tls-policy/decide.ts says 4.7.5 for
 * both under a required policy), X.5.0 a protocol error, X.3.0 mxpress's own failure,
 * else X.4.1 no answer from host.
 */
function standInStatus(errorCode: string): string {
  if (BAD_CONNECTION.has(errorCode)) return '4.2';
  if (errorCode === 'TLS_FAILED' || errorCode === 'TLS_REQUIRED') return '7.5';
  if (errorCode === 'PROTOCOL') return '5.0';
  if (OURS.has(errorCode)) return '3.0';
  return '4.1';
}

/** Human-readable one-liner for logs. */
export function describeOutcome(outcome: RecipientOutcome): string {
  return `${outcome.address}: ${outcome.kind} (${describeReply(outcome.reply)})`;
}
