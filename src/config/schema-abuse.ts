/**
 * The `smtp.abuse` section of the config file and the `smtp.users[].allowedSenders`
 * entries: AUTH lockout, rate limits and sender restrictions (ingress/abuse/).
 *
 * Shapes for schema.ts (every key optional; build-abuse.ts fills defaults). Rates
 * are whole numbers per minute (per hour for the mailbomb guard), 0 meaning
 * unlimited. A sender pattern is a domain or an address; it is lower-cased only in
 * its domain. Operator input; problems are reported as `FieldProblem`s.
 */
import * as z from 'zod';
import { describeValue, FieldProblem } from './errors.ts';
import { parseBoolean, parseHostname } from './fields.ts';
import { count, DAY, duration, field, list, opt } from './schema-kit.ts';

const LOCAL_PART = /^[^\s\p{Cc}@"\\<>()[\],;:]{1,64}$/u;

/** `example.com` or `user@example.com`, as allowed envelope senders. */
export function parseSenderPattern(value: unknown): string {
  if (typeof value === 'string') {
    const text = value.trim();
    const at = text.lastIndexOf('@');
    try {
      if (at < 0) return parseHostname(text).toLowerCase();
      const local = text.slice(0, at);
      if (LOCAL_PART.test(local)) return `${local}@${parseHostname(text.slice(at + 1)).toLowerCase()}`;
    } catch (error) {
      if (!(error instanceof FieldProblem)) throw error;
    }
  }
  throw new FieldProblem(
    `expected a domain (example.com) or an address (user@example.com), got ${describeValue(value)}`,
  );
}

export const allowedSendersShape = list(field(parseSenderPattern), 1000);

const rateShape = { messagesPerMinute: count(0), recipientsPerMinute: count(0) };
const authShape = {
  maxFailuresPerIp: count(0, 1000),
  maxFailuresPerUser: count(0, 1000),
  failureWindow: duration(DAY),
  lockout: duration(DAY),
  failureDelay: duration(10_000, 0),
};

export const abuseShape = {
  applyToTrusted: opt(parseBoolean),
  maxTrackedKeys: count(100, 10_000_000),
  auth: z.strictObject(authShape).optional(),
  perIp: z.strictObject(rateShape).optional(),
  perUser: z.strictObject(rateShape).optional(),
  perSender: z.strictObject(rateShape).optional(),
  mailbombPerHour: count(0),
};

export const ABUSE_KEYS: Readonly<Record<string, readonly string[]>> = {
  'smtp.abuse': Object.keys(abuseShape),
  'smtp.abuse.auth': Object.keys(authShape),
  'smtp.abuse.perIp': Object.keys(rateShape),
  'smtp.abuse.perUser': Object.keys(rateShape),
  'smtp.abuse.perSender': Object.keys(rateShape),
};
