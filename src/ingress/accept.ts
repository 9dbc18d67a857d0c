/**
 * The single commit path: validate -> add trace fields -> spool -> only then success.
 *
 * SMTP DATA/BDAT, HTTP injection and our own bounce reports all enter here. The
 * caller gets a queue id only after the spool has synced the message, its
 * recipients and its `received` event (which the spool then publishes to live
 * consumers); any failure rejects with an MxError that the caller turns into a 4xx
 * (nothing is stored, nothing was promised).
 *
 * In: envelope, origin, the message bytes (CRLF canonical, already size-checked).
 * Out: the queue id. Adds `Received:` always and `Message-ID:`/`Date:` when the
 * submitted header section lacks them. Header values come from UNTRUSTED input and
 * are only ever copied after control characters were stripped.
 */
import type { EnvelopeInput, Origin } from '../contracts/envelope.ts';
import type { LifecycleEvent, ReceivedEvent } from '../contracts/events.ts';
import type { NewMessage, Spool } from '../contracts/spool.ts';
import { MxError, toMxError } from '../protocol/errors.ts';
import { scanHeaders } from '../protocol/header-scan.ts';
import { MIME_LEAD_BYTES, mayNest, mimeDepth } from '../protocol/mime-depth.ts';
import { newQueueId } from '../runtime/ids.ts';

export interface AcceptInput {
  readonly envelope: EnvelopeInput;
  readonly origin: Origin;
  /** Message bytes as received, CRLF canonical; the chunks are not modified. */
  readonly content: readonly Buffer[];
  readonly tags?: Readonly<Record<string, string>>;
}

export interface AcceptedMessage {
  readonly id: string;
  readonly size: number;
  readonly receivedAt: number;
}

export interface Acceptor {
  accept(input: AcceptInput): Promise<AcceptedMessage>;
}

/**
 * Called after a successful commit (the queue's fast path, metrics). Must not throw.
 * `body` is the stored message when the spool left the caller's copy intact (it
 * may take large bodies over without a copy), for a first attempt that need not
 * read it back.
 */
export type AcceptedListener = (message: AcceptedMessage, input: AcceptInput, body?: Uint8Array) => void;

export interface AcceptorDeps {
  /** Only `commit` is used; the spool publishes the stored `received` event itself. */
  readonly spool: Pick<Spool, 'commit'>;
  readonly hostname: string;
  /** When set, new recipients are leased to this owner at commit time (no poll before the first attempt). */
  readonly claimFor?: { readonly owner: string; readonly leaseMs: number };
  readonly now?: () => number;
  readonly onAccepted?: AcceptedListener;
}

export function createAcceptor(deps: AcceptorDeps): Acceptor {
  const now = deps.now ?? Date.now;
  return {
    async accept(input) {
      if (input.envelope.recipients.length === 0) {
        throw new MxError({
          code: 'NO_RECIPIENTS',
          smtpCode: 554,
          enhancedCode: '5.5.1',
          message: 'No valid recipients',
        });
      }
      const lead = leadingBytes(input.content, MIME_LEAD_BYTES);
      refuseMimeBombs(lead, input.content);
      const receivedAt = now();
      const id = newQueueId(receivedAt);
      const scan = scanHeaders(lead);
      const trace = traceFields(deps.hostname, id, receivedAt, input, scan.fields);
      const body = joinBody(trace, input.content);
      const headers: Record<string, string> = { ...scan.fields };
      if (!headers['message-id']) headers['message-id'] = `<${id}@${deps.hostname}>`;
      const message: NewMessage = {
        id,
        receivedAt,
        envelope: input.envelope,
        origin: input.origin,
        body,
        headers,
        tags: input.tags ?? {},
      };
      const received: ReceivedEvent = {
        type: 'received',
        seq: 0,
        at: receivedAt,
        messageId: id,
        from: input.envelope.mailFrom,
        recipients: input.envelope.recipients.map((r) => r.address),
        size: body.length,
        origin: {
          kind: input.origin.kind,
          clientIp: input.origin.clientIp,
          ...(input.origin.authUser ? { authUser: input.origin.authUser } : {}),
        },
      };
      const events: LifecycleEvent[] = [received];
      // Taken before the commit: a body handed to a spool worker is detached by it (length 0).
      const size = body.length;
      try {
        await deps.spool.commit(message, deps.claimFor ? { claimFor: deps.claimFor, events } : { events });
      } catch (error) {
        throw toMxError(error);
      }
      const accepted: AcceptedMessage = { id, size, receivedAt };
      // A body handed over to a spool worker is detached here (length 0): delivery reads the spool's.
      deps.onAccepted?.(accepted, input, body.byteLength === size ? body : undefined);
      return accepted;
    },
  };
}

function traceFields(
  hostname: string,
  id: string,
  receivedAt: number,
  input: AcceptInput,
  fields: Readonly<Record<string, string>>,
): string {
  const o = input.origin;
  const ipLiteral = o.clientIp.includes(':') ? `IPv6:${o.clientIp}` : o.clientIp;
  const from =
    o.kind === 'smtp'
      ? `from ${clean(o.helo) || 'unknown'} (${clean(o.clientName ?? 'unknown')} [${ipLiteral}])\r\n\t`
      : '';
  const tls = o.tls ? `\r\n\t(using ${clean(o.tls.protocol)} with cipher ${clean(o.tls.cipher)})` : '';
  const only =
    input.envelope.recipients.length === 1
      ? `\r\n\tfor <${clean(input.envelope.recipients[0]!.address)}>`
      : '';
  let out = `Received: ${from}by ${hostname} (mxpress) with ${clean(o.protocol)} id ${id}${tls}${only};\r\n\t${rfc5322Date(receivedAt)}\r\n`;
  if (!fields.date) out += `Date: ${rfc5322Date(receivedAt)}\r\n`;
  if (!fields['message-id']) out += `Message-ID: <${id}@${hostname}>\r\n`;
  return out;
}

function clean(text: string): string {
  return text.replace(/[\x00-\x1f\x7f()\\]/g, '?');
}

const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** RFC 5322 date-time in UTC, e.g. `Sun, 22 Nov 2026 13:39:10 +0000`. */
export function rfc5322Date(epochMs: number): string {
  const d = new Date(epochMs);
  const pad = (n: number): string => String(n).padStart(2, '0');
  return `${DAYS[d.getUTCDay()]}, ${d.getUTCDate()} ${MONTHS[d.getUTCMonth()]} ${d.getUTCFullYear()} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())} +0000`;
}

/** Deepest MIME nesting accepted (multipart and message/rfc822 levels); real mail rarely passes 5. */
export const MAX_MIME_DEPTH = 50;

/**
 * The stored body: our trace fields, then the client's bytes, in a buffer of its own.
 * `Buffer.concat` puts anything up to a few KB (most mail) in Node's shared pool, and a
 * slice of the pool cannot be transferred to the spool's thread: it was copied again
 * there (3.4 us of the ingress thread's 96 per message, in `npm run bench -- --scenario
 * accept --reuse`).
 */
function joinBody(trace: string, content: readonly Buffer[]): Buffer {
  let length = Buffer.byteLength(trace, 'utf8');
  for (const chunk of content) length += chunk.length;
  const body = Buffer.allocUnsafeSlow(length);
  let at = body.write(trace, 0, 'utf8');
  for (const chunk of content) {
    body.set(chunk, at);
    at += chunk.length;
  }
  return body;
}

/** The first `min` bytes of the message (all of it when shorter) in one buffer; copies only when the first chunk is shorter. */
function leadingBytes(content: readonly Buffer[], min: number): Buffer {
  const head = content[0] ?? Buffer.alloc(0);
  if (head.length >= min || content.length === 1) return head;
  const parts: Buffer[] = [];
  let length = 0;
  for (const chunk of content) {
    parts.push(chunk);
    length += chunk.length;
    if (length >= min) break;
  }
  return Buffer.concat(parts, Math.min(length, min));
}

/**
 * Refuses messages whose MIME parts nest past MAX_MIME_DEPTH (a "MIME bomb").
 * `lead` is the message start (leadingBytes), `content` the whole message.
 */
function refuseMimeBombs(lead: Buffer, content: readonly Buffer[]): void {
  if (!mayNest(lead)) return;
  const whole = content.length === 1 ? content[0]! : Buffer.concat(content);
  if (mimeDepth(whole, MAX_MIME_DEPTH).exceeded) {
    throw new MxError({
      code: 'MIME_TOO_DEEP',
      smtpCode: 554,
      enhancedCode: '5.6.0',
      message: `Message refused: MIME parts nest deeper than ${MAX_MIME_DEPTH} levels`,
    });
  }
}
