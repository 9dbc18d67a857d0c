/**
 * The `delivery` section of the config file: MX port, retries, shaping rules, relay
 * routes, SMTP client timeouts, IPv6, DKIM keys, outbound TLS rules and MTA-STS.
 *
 * Shapes for schema.ts plus the single-value parsers only this section uses
 * (domain patterns, relay hosts, DKIM selectors). Values come out converted (ms,
 * lower-case patterns) under the file's key names; defaults and rules spanning
 * several keys are applied in build-delivery.ts. Parsers throw `FieldProblem`;
 * secrets are never echoed. Operator input only.
 */
import * as z from 'zod';
import { describeValue, FieldProblem } from './errors.ts';
import {
  parseBoolean,
  parseCount,
  parseHostname,
  parseIpLiteral,
  parseName,
  parseOneOf,
  parsePath,
  parsePort,
  parseSecret,
} from './fields.ts';
import { count, DAY, duration, field, list, opt } from './schema-kit.ts';
import { parseDuration } from './units.ts';

const LABEL = '[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?';
const DOMAIN = new RegExp(`^${LABEL}(?:\\.${LABEL})*$`);
const PATTERN_HELP = 'example.com, *.example.com (its subdomains) or * (everything)';

/** The normalized pattern (lower case, no trailing dot), or undefined when `text` is not one. */
function domainPattern(text: string): string | undefined {
  const pattern = text.trim().toLowerCase().replace(/\.$/, '');
  if (pattern === '*') return pattern;
  const name = pattern.startsWith('*.') ? pattern.slice(2) : pattern;
  return name.length <= 253 && DOMAIN.test(name) ? pattern : undefined;
}

/** `example.com`, `*.example.com` or `*`; lower-cased, trailing dot dropped. */
export function parseDomainPattern(value: unknown): string {
  const pattern = typeof value === 'string' ? domainPattern(value) : undefined;
  if (pattern !== undefined) return pattern;
  throw new FieldProblem(`expected a domain pattern: ${PATTERN_HELP}, got ${describeValue(value)}`);
}

/** A domain pattern, or `mx:` and a pattern matched against the MX host names. */
export function parseShapingMatch(value: unknown): string {
  if (typeof value === 'string') {
    const mx = /^\s*mx:/i.test(value);
    const pattern = domainPattern(mx ? value.trim().slice(3) : value);
    if (pattern !== undefined) return mx ? `mx:${pattern}` : pattern;
  }
  throw new FieldProblem(
    `expected ${PATTERN_HELP}, or mx: and such a pattern for MX host names (mx:*.google.com), got ${describeValue(value)}`,
  );
}

/** A relay's host: an IP address or a host name. */
export function parseRelayHost(value: unknown): string {
  try {
    return parseIpLiteral(value);
  } catch {
    try {
      return parseHostname(value).toLowerCase();
    } catch {
      throw new FieldProblem(
        `expected a host name like smtp.example.net or an IP address, got ${describeValue(value)}`,
      );
    }
  }
}

const SELECTOR = /^[a-z0-9](?:[a-z0-9_-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9_-]{0,61}[a-z0-9])?)*$/i;

/** A DKIM selector: dot-separated labels of letters, digits, `-` and `_`. */
export function parseSelector(value: unknown): string {
  if (typeof value === 'string' && value.length <= 253 && SELECTOR.test(value)) return value;
  throw new FieldProblem(
    `expected a DKIM selector like mx1 (letters, digits, "-", "_", dots), got ${describeValue(value)}`,
  );
}

/** A signing domain: a domain name of at least two labels, lower-cased. */
export function parseSigningDomain(value: unknown): string {
  if (typeof value === 'string') {
    const name = value.trim().toLowerCase().replace(/\.$/, '');
    if (name.length <= 253 && name.includes('.') && DOMAIN.test(name)) return name;
  }
  throw new FieldProblem(`expected a domain name like example.com, got ${describeValue(value)}`);
}

/** An SMTP AUTH user name for a relay: 1-255 characters, no control characters. */
export function parseRelayUsername(value: unknown): string {
  if (typeof value === 'string' && value.length >= 1 && value.length <= 255 && !/\p{Cc}/u.test(value)) {
    return value;
  }
  throw new FieldProblem(`expected a user name (1-255 characters), got ${describeValue(value)}`);
}

export const RELAY_TLS = ['starttls', 'implicit', 'may', 'none'] as const;

const RETRY_MAX = 30 * DAY;

export const shapingShape = {
  match: field(parseShapingMatch),
  maxConnections: count(1, 10_000),
  messagesPerConnection: count(1, 1_000_000),
  messagesPerMinute: count(0, 1_000_000),
  pauseAfterFailure: duration(DAY, 0),
  pauseAfterDeliveries: count(0, 1_000_000),
  pause: duration(DAY, 0),
};

export const OUTBOUND_TLS = ['none', 'may', 'encrypt', 'verify'] as const;

export const tlsRuleShape = {
  match: field(parseShapingMatch),
  policy: field(parseOneOf(OUTBOUND_TLS)),
};

export const routeAuthShape = {
  username: field(parseRelayUsername),
  password: field((v) => parseSecret(v)),
};

export const routeShape = {
  name: field(parseName),
  host: field(parseRelayHost),
  port: field((v) => parsePort(v)),
  tls: opt(parseOneOf(RELAY_TLS)),
  auth: z.strictObject(routeAuthShape).optional(),
  domains: list(field(parseDomainPattern), 10_000),
  fallbackAfterAttempts: opt((v) => parseCount(v, 0, 1000)),
  fallbackOnPolicyBlock: opt(parseBoolean),
};

/** YAML key -> ClientTimeouts key. */
export const TIMEOUT_KEYS = {
  connect: 'connectMs',
  greeting: 'greetingMs',
  ehlo: 'ehloMs',
  mail: 'mailMs',
  rcpt: 'rcptMs',
  dataInit: 'dataInitMs',
  dataBlock: 'dataBlockMs',
  dataTerm: 'dataTermMs',
  starttls: 'starttlsMs',
  idle: 'idleMs',
} as const;
export type TimeoutYamlKey = keyof typeof TIMEOUT_KEYS;

export const timeoutsShape = Object.fromEntries(
  Object.keys(TIMEOUT_KEYS).map((key) => [key, duration(DAY)]),
) as Record<TimeoutYamlKey, ReturnType<typeof duration>>;

export const dkimShape = {
  domain: field(parseSigningDomain),
  selector: field(parseSelector),
  privateKeyFile: field(parsePath),
};

export const deliveryShape = {
  mxPort: opt((v) => parsePort(v)),
  retryIntervals: z
    .array(field((v) => parseDuration(v, { max: RETRY_MAX })))
    .min(1)
    .max(100)
    .optional(),
  maxQueueTime: duration(365 * DAY),
  shaping: list(z.strictObject(shapingShape), 1000),
  routes: list(z.strictObject(routeShape), 100),
  timeouts: z.strictObject(timeoutsShape).optional(),
  idleConnection: duration(DAY),
  delayWarningAfter: duration(30 * DAY, 0),
  ipv6: opt(parseBoolean),
  dkim: list(z.strictObject(dkimShape), 1000),
  tls: list(z.strictObject(tlsRuleShape), 1000),
  mtaSts: opt(parseBoolean),
};

/** Known keys by object path, for typo suggestions (see schema.ts). */
export const DELIVERY_KEYS: Readonly<Record<string, readonly string[]>> = {
  delivery: Object.keys(deliveryShape),
  'delivery.shaping[]': Object.keys(shapingShape),
  'delivery.routes[]': Object.keys(routeShape),
  'delivery.routes[].auth': Object.keys(routeAuthShape),
  'delivery.timeouts': Object.keys(timeoutsShape),
  'delivery.dkim[]': Object.keys(dkimShape),
  'delivery.tls[]': Object.keys(tlsRuleShape),
};
