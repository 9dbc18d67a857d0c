/**
 * How the API shows stored messages: the detail view (every recipient with its
 * attempts, last response and, when a classifier is given, classification and
 * explanation) and the short summary used in listings.
 *
 * Pure functions from spool contract objects to plain JSON values; times become
 * ISO 8601 strings, optional fields are left out rather than null. Values come
 * from our own spool; header text was sanitized when it was stored.
 */
import type { StoredAttempt, StoredMessage, StoredRecipient } from '../../contracts/spool.ts';
import type { Attempt, SmtpReply } from '../../contracts/status.ts';

/** What a delivery failure means, for operators (feedback/classify.ts when wired). */
export type RecipientClassifier = (input: { reply?: SmtpReply; errorCode?: string }) => {
  readonly severity: string;
  readonly category: string;
  readonly explanation: { readonly title: string; readonly cause: string; readonly action: string };
};

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

function attemptView(n: number, a: Attempt): Record<string, unknown> {
  return {
    n,
    at: iso(a.at),
    durationMs: a.durationMs,
    ...(a.mxHost !== undefined ? { mxHost: a.mxHost } : {}),
    ...(a.ip !== undefined ? { ip: a.ip } : {}),
    ...(a.port !== undefined ? { port: a.port } : {}),
    ...(a.tls !== undefined ? { tls: a.tls } : {}),
    route: a.route,
    outcome: a.outcome,
    ...(a.reply !== undefined ? { reply: a.reply } : {}),
    ...(a.errorCode !== undefined ? { errorCode: a.errorCode } : {}),
    ...(a.scope !== undefined ? { scope: a.scope } : {}),
  };
}

function recipientView(
  r: StoredRecipient,
  attempts: readonly StoredAttempt[],
  classify: RecipientClassifier | undefined,
): Record<string, unknown> {
  const pending = r.status === 'queued' || r.status === 'deferred';
  const failed = r.status !== 'delivered' && (r.lastReply !== undefined || r.lastErrorCode !== undefined);
  const judged =
    classify !== undefined && failed
      ? classify({
          ...(r.lastReply !== undefined ? { reply: r.lastReply } : {}),
          ...(r.lastErrorCode !== undefined ? { errorCode: r.lastErrorCode } : {}),
        })
      : undefined;
  return {
    index: r.index,
    address: r.address,
    status: r.status,
    held: r.held,
    attemptCount: r.attempts,
    attempts: attempts.map((a) => attemptView(a.n, a.attempt)),
    ...(pending ? { nextAttemptAt: iso(r.nextAttemptAt) } : {}),
    ...(r.lastReply !== undefined ? { lastResponse: r.lastReply } : {}),
    ...(r.lastErrorCode !== undefined ? { lastErrorCode: r.lastErrorCode } : {}),
    ...(r.route !== undefined ? { route: r.route } : {}),
    updatedAt: iso(r.updatedAt),
    ...(judged !== undefined
      ? {
          classification: { severity: judged.severity, category: judged.category },
          explanation: judged.explanation,
        }
      : {}),
  };
}

export function messageDetailView(
  message: StoredMessage,
  attempts: readonly StoredAttempt[],
  classify?: RecipientClassifier,
): Record<string, unknown> {
  const byIndex = new Map<number, StoredAttempt[]>();
  for (const a of attempts) {
    const list = byIndex.get(a.index);
    if (list) list.push(a);
    else byIndex.set(a.index, [a]);
  }
  const e = message.envelope;
  return {
    id: message.id,
    receivedAt: iso(message.receivedAt),
    from: e.mailFrom,
    size: message.size,
    hasBody: message.hasBody,
    headers: message.headers,
    envelope: {
      bodyType: e.bodyType,
      smtputf8: e.smtputf8,
      ...(e.ret !== undefined ? { ret: e.ret } : {}),
      ...(e.envid !== undefined ? { envid: e.envid } : {}),
    },
    origin: {
      kind: message.origin.kind,
      clientIp: message.origin.clientIp,
      protocol: message.origin.protocol,
      ...(message.origin.authUser !== undefined ? { authUser: message.origin.authUser } : {}),
    },
    recipients: message.recipients.map((r) => recipientView(r, byIndex.get(r.index) ?? [], classify)),
  };
}

export function messageSummaryView(message: StoredMessage): Record<string, unknown> {
  return {
    id: message.id,
    receivedAt: iso(message.receivedAt),
    from: message.envelope.mailFrom,
    ...(message.headers.subject !== undefined ? { subject: message.headers.subject } : {}),
    size: message.size,
    recipients: message.recipients.map((r) => ({ address: r.address, status: r.status })),
  };
}
