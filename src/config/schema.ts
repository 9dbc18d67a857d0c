/**
 * The config file's schema: what keys the YAML may hold and how each value reads.
 *
 * `parseFileLayer(data, origin)` validates the parsed YAML document (untrusted in
 * shape: any mapping, list or scalar) against strict zod objects, so an unknown key
 * is an error naming it, with a suggestion for near misses. Scalars go through the
 * parsers in fields.ts/units.ts; durations come out in ms and sizes in bytes, under
 * the user-facing key names (`idleTimeout`, `syncBudget`, ...). Every key is
 * optional here; defaults and cross-field rules are applied in build.ts. The
 * delivery, feedback and smtp.abuse sections live in schema-delivery.ts,
 * schema-feedback.ts and schema-abuse.ts.
 * Throws `ConfigError` listing every problem with its key path.
 */
import * as z from 'zod';
import { ConfigError, type ConfigIssue, describeValue, suggest } from './errors.ts';
import {
  LOG_LEVELS,
  parseBoolean,
  parseCidrText,
  parseDnsServer,
  parseHashField,
  parseHostname,
  parseIpLiteral,
  parseName,
  parseOneOf,
  parsePath,
  parsePort,
  parseToken,
  parseUsername,
} from './fields.ts';
import { ABUSE_KEYS, abuseShape, allowedSendersShape } from './schema-abuse.ts';
import { DELIVERY_KEYS, deliveryShape } from './schema-delivery.ts';
import { FEEDBACK_KEYS, feedbackShape } from './schema-feedback.ts';
import { count, DAY, duration, field, list, opt, size } from './schema-kit.ts';
import { parseSize } from './units.ts';

export const LISTENER_TLS = ['starttls', 'implicit', 'none'] as const;
export const DELIVERY_MODES = ['async', 'sync'] as const;

const listenerShape = {
  name: opt(parseName),
  address: field(parseIpLiteral),
  port: field((v) => parsePort(v, true)),
  tls: opt(parseOneOf(LISTENER_TLS)),
  deliveryMode: opt(parseOneOf(DELIVERY_MODES)),
  syncBudget: duration(DAY),
  requireAuth: opt(parseBoolean),
};

const limitsShape = {
  maxMessageSize: size,
  maxRecipients: count(),
  maxCommandLength: count(),
  maxLineLength: count(),
  maxHeaderBytes: size,
  maxConnections: count(),
  maxConnectionsPerClient: count(),
  idleTimeout: duration(DAY),
  sessionTimeout: duration(DAY),
  maxErrors: count(),
  maxMessagesPerConnection: count(),
  minFreeBytes: opt((v) => parseSize(v, { min: 0 })),
};

const tlsShape = { cert: opt(parsePath), key: opt(parsePath) };
const userShape = {
  username: field(parseUsername),
  passwordHash: field(parseHashField),
  allowedSenders: allowedSendersShape,
};

const smtpShape = {
  listeners: list(z.strictObject(listenerShape), 64),
  limits: z.strictObject(limitsShape).optional(),
  lineEndings: opt(parseOneOf(['reject', 'normalize'] as const)),
  tls: z.strictObject(tlsShape).optional(),
  users: list(z.strictObject(userShape), 10_000),
  trustedNetworks: list(field(parseCidrText), 1000),
  abuse: z.strictObject(abuseShape).optional(),
};

const httpShape = {
  address: opt(parseIpLiteral),
  port: opt((v) => parsePort(v, true)),
  tokens: list(field(parseToken), 1000),
};
const dnsShape = { servers: list(field(parseDnsServer), 16), timeout: duration(60_000 * 10) };
const logShape = { level: opt(parseOneOf(LOG_LEVELS)) };

const rootShape = {
  hostname: opt(parseHostname),
  dataDir: opt(parsePath),
  smtp: z.strictObject(smtpShape).optional(),
  http: z.strictObject(httpShape).optional(),
  dns: z.strictObject(dnsShape).optional(),
  delivery: z.strictObject(deliveryShape).optional(),
  feedback: z.strictObject(feedbackShape).optional(),
  log: z.strictObject(logShape).optional(),
};

const fileSchema = z.strictObject(rootShape);

/** The config file's content, validated; every key optional, values converted. */
export type FileLayer = z.output<typeof fileSchema>;
export type FileListener = NonNullable<NonNullable<FileLayer['smtp']>['listeners']>[number];

/** Known keys by object path (list indices written `[]`), for typo suggestions. */
const KNOWN_KEYS: Readonly<Record<string, readonly string[]>> = {
  '': Object.keys(rootShape),
  smtp: Object.keys(smtpShape),
  'smtp.listeners[]': Object.keys(listenerShape),
  'smtp.limits': Object.keys(limitsShape),
  'smtp.tls': Object.keys(tlsShape),
  'smtp.users[]': Object.keys(userShape),
  ...ABUSE_KEYS,
  http: Object.keys(httpShape),
  dns: Object.keys(dnsShape),
  ...DELIVERY_KEYS,
  ...FEEDBACK_KEYS,
  log: Object.keys(logShape),
};

/** `['smtp', 'listeners', 0, 'port']` -> `smtp.listeners[0].port`. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else out += out === '' ? String(part) : `.${String(part)}`;
  }
  return out;
}

function describeExpected(expected: string): string {
  if (expected === 'object') return 'a mapping (key: value lines)';
  if (expected === 'array') return 'a list';
  return expected;
}

function toIssues(issues: readonly z.core.$ZodIssue[], origin: string): ConfigIssue[] {
  const out: ConfigIssue[] = [];
  for (const issue of issues) {
    const key = formatPath(issue.path);
    switch (issue.code) {
      case 'unrecognized_keys': {
        const known = KNOWN_KEYS[key.replace(/\[\d+\]/g, '[]')] ?? [];
        for (const name of issue.keys) {
          const near = suggest(name, known);
          const hint = near === undefined ? `known keys: ${known.join(', ')}` : `did you mean "${near}"?`;
          out.push({ key: key === '' ? name : `${key}.${name}`, problem: `unknown key (${hint})`, origin });
        }
        break;
      }
      case 'invalid_type':
        out.push({
          key: key === '' ? '(document)' : key,
          problem: `expected ${describeExpected(issue.expected)}, got ${describeValue(issue.input)}`,
          origin,
        });
        break;
      case 'too_big':
        out.push({ key, problem: `at most ${String(issue.maximum)} entries are allowed`, origin });
        break;
      case 'too_small':
        out.push({ key, problem: `at least ${String(issue.minimum)} entry is needed`, origin });
        break;
      default:
        out.push({ key: key === '' ? '(document)' : key, problem: issue.message, origin });
    }
  }
  return out;
}

/** Validates a parsed YAML document. `origin` (the file path) goes into error messages. */
export function parseFileLayer(data: unknown, origin: string): FileLayer {
  const result = fileSchema.safeParse(data ?? {}, { reportInput: true });
  if (result.success) return result.data;
  throw new ConfigError(toIssues(result.error.issues, origin));
}
