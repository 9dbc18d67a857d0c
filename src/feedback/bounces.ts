/**
 * Bounces: turns what happened to some recipients of one message into ONE delivery
 * status notification (protocol/dsn.ts) and queues it through the normal commit
 * path (ingress/accept.ts, the one allowed back-edge), addressed to the sender.
 *
 * In: the stored message and per-recipient outcomes (action, status, the remote's
 * reply). Out: the queue id of the report, or undefined when none was due: the
 * sender is null (`<>`), the message was itself a report, or RFC 3461 NOTIFY asked
 * for none of these outcomes. The caller records the `dsn-sent` event.
 *
 * Rules: NOTIFY=NEVER -> nothing; failed -> when NOTIFY is absent or has FAILURE;
 * delayed -> when NOTIFY is absent or has DELAY; delivered/relayed/expanded -> only
 * with SUCCESS. The full original goes back only in a report of failures alone and
 * unless RET=HDRS; otherwise its header section. If the body was already released
 * (or cannot be read), the header section is rebuilt from the stored summary fields.
 *
 * Fails: rejects with the acceptor's MxError when the report could not be committed
 * (the caller may try again later); nothing else throws. The remote's reply text is
 * UNTRUSTED and only reaches the report through buildDsn's cleaning.
 */

import type { Spool, StoredMessage, StoredRecipient } from '../contracts/spool.ts';
import type { SmtpReply } from '../contracts/status.ts';
import type { Acceptor } from '../ingress/accept.ts';
import { buildDsn, type DsnAction, type DsnRecipient } from '../protocol/dsn.ts';

export type BounceLogLevel = 'debug' | 'info' | 'warn' | 'error';

export interface BounceDeps {
  readonly acceptor: Acceptor;
  readonly spool: Spool;
  /** Our host name: Reporting-MTA and the MAILER-DAEMON address. */
  readonly hostname: string;
  log(level: BounceLogLevel, message: string, fields?: Record<string, unknown>): void;
  readonly now?: () => number;
  /** Largest original returned whole (default: buildDsn's 256 KB). */
  readonly maxOriginalBytes?: number;
}

export interface BounceRecipient {
  /** Position of the recipient in the message's envelope (StoredRecipient.index). */
  readonly index: number;
  readonly action: DsnAction;
  /** RFC 3463 `x.y.z`. */
  readonly status: string;
  /** Host name of the remote MTA that answered. */
  readonly remoteMta?: string;
  readonly reply?: SmtpReply;
  readonly lastAttemptAt?: number;
  readonly willRetryUntil?: number;
  readonly explanation?: string;
}

export interface BounceRequest {
  readonly message: StoredMessage;
  readonly recipients: readonly BounceRecipient[];
  /** The original message when the caller read it before the spool released it. */
  readonly original?: Uint8Array;
}

export interface Bouncer {
  /** The report's queue id, or undefined when no report was due. */
  report(request: BounceRequest): Promise<string | undefined>;
}

const SUMMARY_HEADERS: readonly (readonly [string, string])[] = [
  ['date', 'Date'],
  ['from', 'From'],
  ['reply-to', 'Reply-To'],
  ['to', 'To'],
  ['cc', 'Cc'],
  ['subject', 'Subject'],
  ['message-id', 'Message-ID'],
];

export function createBouncer(deps: BounceDeps): Bouncer {
  const now = deps.now ?? Date.now;
  return {
    async report(request) {
      const { message } = request;
      const sender = message.envelope.mailFrom;
      if (sender === '') {
        deps.log('debug', 'no delivery report: null sender', { messageId: message.id });
        return undefined;
      }
      if (message.origin.kind === 'bounce') {
        deps.log('debug', 'no delivery report about a delivery report', { messageId: message.id });
        return undefined;
      }
      const due = dueRecipients(request, deps);
      if (due.length === 0) return undefined;

      const returnFull = due.every((r) => r.action === 'failed') && message.envelope.ret !== 'HDRS';
      const original = request.original
        ? { bytes: request.original, whole: true }
        : await readOriginal(deps, message);
      const smtputf8 = message.envelope.smtputf8;
      const { body, subject } = buildDsn({
        reportingMta: deps.hostname,
        messageId: message.id,
        arrivalDate: message.receivedAt,
        ...(message.envelope.envid !== undefined ? { envid: message.envelope.envid } : {}),
        originalFrom: sender,
        recipients: due,
        ret: returnFull && original.whole ? 'FULL' : 'HDRS',
        original: original.bytes,
        smtputf8,
        now: now(),
        ...(deps.maxOriginalBytes !== undefined ? { maxOriginalBytes: deps.maxOriginalBytes } : {}),
      });
      const reportUtf8 = smtputf8 || nonAscii(sender) || due.some((r) => nonAscii(r.finalRecipient));
      const accepted = await deps.acceptor.accept({
        envelope: {
          mailFrom: '',
          recipients: [{ address: sender, notify: 'NEVER' }],
          bodyType: '8BITMIME',
          smtputf8: reportUtf8,
        },
        origin: {
          kind: 'bounce',
          listener: 'internal',
          clientIp: '127.0.0.1',
          clientPort: 0,
          helo: deps.hostname,
          protocol: 'LOCAL',
        },
        content: [body],
      });
      deps.log('info', 'delivery report queued', {
        messageId: message.id,
        reportId: accepted.id,
        to: sender,
        subject,
        recipients: due.map((r) => `${r.finalRecipient} ${r.action} ${r.status}`),
      });
      return accepted.id;
    },
  };
}

/** The outcomes NOTIFY asks a report for, one per recipient index, in request order. */
function dueRecipients(request: BounceRequest, deps: BounceDeps): DsnRecipient[] {
  const due: DsnRecipient[] = [];
  const seen = new Set<number>();
  for (const outcome of request.recipients) {
    if (seen.has(outcome.index)) continue;
    seen.add(outcome.index);
    const stored = request.message.recipients.find((r) => r.index === outcome.index);
    if (!stored) {
      deps.log('error', 'delivery report for an unknown recipient index', {
        messageId: request.message.id,
        index: outcome.index,
      });
      continue;
    }
    if (!notifyWants(stored.notify, outcome.action)) continue;
    due.push(toDsnRecipient(stored, outcome));
  }
  return due;
}

export function notifyWants(notify: StoredRecipient['notify'], action: DsnAction): boolean {
  if (notify === 'NEVER') return false;
  switch (action) {
    case 'failed':
      return notify === undefined || notify.includes('FAILURE');
    case 'delayed':
      return notify === undefined || notify.includes('DELAY');
    case 'delivered':
    case 'relayed':
    case 'expanded':
      return notify?.includes('SUCCESS') === true;
    default: {
      const impossible: never = action;
      throw new TypeError(`unknown DSN action ${String(impossible)}`);
    }
  }
}

function toDsnRecipient(stored: StoredRecipient, outcome: BounceRecipient): DsnRecipient {
  const reply = outcome.reply;
  return {
    finalRecipient: stored.address,
    ...(stored.orcpt ? { originalRecipient: stored.orcpt } : {}),
    action: outcome.action,
    status: outcome.status,
    ...(outcome.remoteMta !== undefined ? { remoteMta: outcome.remoteMta } : {}),
    ...(reply
      ? {
          diagnostic: {
            code: reply.code,
            text: reply.text,
            ...(reply.enhanced !== undefined ? { enhanced: reply.enhanced } : {}),
          },
        }
      : {}),
    ...(outcome.lastAttemptAt !== undefined ? { lastAttemptAt: outcome.lastAttemptAt } : {}),
    ...(outcome.willRetryUntil !== undefined ? { willRetryUntil: outcome.willRetryUntil } : {}),
    ...(outcome.explanation !== undefined ? { explanation: outcome.explanation } : {}),
  };
}

/**
 * The stored body, or (when it was released or cannot be read) a header section
 * rebuilt from the summary fields kept with the message.
 */
async function readOriginal(
  deps: BounceDeps,
  message: StoredMessage,
): Promise<{ bytes: Uint8Array; whole: boolean }> {
  if (message.hasBody) {
    try {
      return { bytes: await deps.spool.readBody(message.id), whole: true };
    } catch (error) {
      deps.log('warn', 'original body unreadable for the delivery report; using the stored headers', {
        messageId: message.id,
        error: String(error),
      });
    }
  }
  let head = '';
  for (const [key, name] of SUMMARY_HEADERS) {
    const value = message.headers[key];
    if (value) head += `${name}: ${value.replace(/[\x00-\x1f\x7f]/g, ' ')}\r\n`;
  }
  return { bytes: Buffer.from(`${head}\r\n`, 'utf8'), whole: false };
}

function nonAscii(text: string): boolean {
  return /[^\x00-\x7f]/.test(text);
}
