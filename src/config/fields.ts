/**
 * Single-value parsers shared by the config file schema, the environment and flags.
 *
 * Each takes what the operator wrote (a YAML scalar or a string) and returns the
 * typed value, or throws `FieldProblem` describing what was expected and what was
 * given. They know nothing about key paths or origins. Operator input only.
 */
import { canonicalIp, parseCidr, parseIp } from './cidr.ts';
import { describeValue, FieldProblem } from './errors.ts';
import { parsePasswordHash } from './password.ts';

/** What `config check` prints instead of a secret; refused wherever a secret is read back. */
export const REDACTED = '[redacted]';

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export interface HostPort {
  readonly address: string;
  readonly port: number;
}

export function parseOneOf<const T extends string>(allowed: readonly T[]): (value: unknown) => T {
  return (value) => {
    if (typeof value === 'string' && (allowed as readonly string[]).includes(value)) return value as T;
    const list = allowed.map((a) => `"${a}"`).join(', ');
    throw new FieldProblem(`expected one of ${list}, got ${describeValue(value)}`);
  };
}

export function parseBoolean(value: unknown): boolean {
  if (typeof value === 'boolean') return value;
  if (value === 'true') return true;
  if (value === 'false') return false;
  throw new FieldProblem(`expected true or false, got ${describeValue(value)}`);
}

/** A positive integer (or >= `min`), from a number or a string of digits. */
export function parseCount(value: unknown, min = 1, max = 1e9): number {
  const n = typeof value === 'string' && /^\d{1,12}$/.test(value.trim()) ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isSafeInteger(n)) {
    throw new FieldProblem(`expected a whole number, got ${describeValue(value)}`);
  }
  if (n < min) throw new FieldProblem(`must be at least ${min}, got ${describeValue(value)}`);
  if (n > max) throw new FieldProblem(`must be at most ${max}, got ${describeValue(value)}`);
  return n;
}

/**
 * A TCP port 1-65535. `allowZero` lets listeners ask the OS for a free port (tests
 * and ad-hoc runs); the message still names the ordinary range.
 */
export function parsePort(value: unknown, allowZero = false): number {
  const n = typeof value === 'string' && /^\d{1,5}$/.test(value.trim()) ? Number(value) : value;
  if (typeof n === 'number' && Number.isInteger(n) && n <= 65535 && (n >= 1 || (allowZero && n === 0)))
    return n;
  throw new FieldProblem(`expected a port number 1-65535, got ${describeValue(value)}`);
}

/** An IP address literal (IPv4 or IPv6, no brackets); returned as written, trimmed. */
export function parseIpLiteral(value: unknown): string {
  if (typeof value === 'string') {
    const text = value.trim();
    if (!text.includes('%') && parseIp(text) !== undefined) return text;
  }
  throw new FieldProblem(`expected an IP address like 127.0.0.1 or ::1, got ${describeValue(value)}`);
}

/** `ADDR:PORT` with IPv6 in brackets: `127.0.0.1:2525`, `[::1]:2525`. */
export function parseHostPort(value: unknown, allowZeroPort = false): HostPort {
  const expected = 'expected ADDRESS:PORT such as 127.0.0.1:2525 or [::1]:2525';
  if (typeof value !== 'string') throw new FieldProblem(`${expected}, got ${describeValue(value)}`);
  const text = value.trim();
  const match = /^\[([^\]]+)\]:(\d+)$/.exec(text) ?? /^([^:[\]]+):(\d+)$/.exec(text);
  if (match === null) {
    const hint = /^[^[].*:.*:/.test(text) ? ' (IPv6 addresses go in brackets)' : '';
    throw new FieldProblem(`${expected}${hint}, got ${describeValue(value)}`);
  }
  return { address: parseIpLiteral(match[1]), port: parsePort(match[2], allowZeroPort) };
}

/** Formats an address and port the way `parseHostPort` reads them. */
export function formatHostPort(address: string, port: number): string {
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
}

/** A DNS server `IP`, `IP:PORT`, `[IPv6]` or `[IPv6]:PORT`; normalized to `ip` or `ip:port`/`[v6]:port`. */
export function parseDnsServer(value: unknown): string {
  const expected = 'expected a DNS server IP[:PORT] such as 192.0.2.53, 127.0.0.1:5353 or [::1]:5353';
  if (typeof value !== 'string') throw new FieldProblem(`${expected}, got ${describeValue(value)}`);
  const text = value.trim();
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(text);
  const plainV4 = /^([^:[\]]+)(?::(\d+))?$/.exec(text);
  if (bracketed !== null || plainV4 !== null) {
    const m = (bracketed ?? plainV4)!;
    const address = parseIpLiteral(m[1]);
    return m[2] === undefined ? address : formatHostPort(address, parsePort(m[2]));
  }
  if (!text.includes('%') && parseIp(text)?.family === 6) return text;
  throw new FieldProblem(`${expected}, got ${describeValue(value)}`);
}

/** A CIDR block (or a single address); returned in canonical form. */
export function parseCidrText(value: unknown): string {
  if (typeof value !== 'string') {
    throw new FieldProblem(`expected a CIDR block like 10.0.0.0/8 or fd00::/8, got ${describeValue(value)}`);
  }
  return parseCidr(value).text;
}

const LABEL = '[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?';
const HOSTNAME = new RegExp(`^${LABEL}(?:\\.${LABEL})*$`, 'i');

/** A host name for EHLO and Received headers: letters, digits, hyphens, dots; no IP literal. */
export function parseHostname(value: unknown): string {
  if (typeof value === 'string') {
    const text = value.trim();
    if (canonicalIp(text) !== undefined) {
      throw new FieldProblem(`expected a host name, not an IP address, got ${describeValue(value)}`);
    }
    if (text.length <= 253 && HOSTNAME.test(text)) return text;
  }
  throw new FieldProblem(
    `expected a host name like mail.example.com (letters, digits, hyphens, dots), got ${describeValue(value)}`,
  );
}

/** A file or directory path as written (not resolved here). */
export function parsePath(value: unknown): string {
  if (typeof value === 'string' && value.trim() !== '' && !value.includes('\0') && value.length <= 4096) {
    return value.trim();
  }
  throw new FieldProblem(`expected a file system path, got ${describeValue(value)}`);
}

/** An SMTP AUTH user name: 1-255 characters, no spaces or control characters. */
export function parseUsername(value: unknown): string {
  if (typeof value === 'string' && value.length >= 1 && value.length <= 255 && !/[\s\p{Cc}]/u.test(value)) {
    return value;
  }
  throw new FieldProblem(
    `expected a user name without spaces (1-255 characters), got ${describeValue(value)}`,
  );
}

/** A `scrypt$N$r$p$salt$hash` string as made by `mxpress hash-password`. */
export function parseHashField(value: unknown): string {
  if (typeof value === 'string' && parsePasswordHash(value) !== undefined) return value;
  const shown = typeof value === 'string' ? 'a string in another format' : describeValue(value);
  throw new FieldProblem(
    `expected a hash made by "mxpress hash-password" (scrypt$N$r$p$salt$hash), got ${shown}`,
  );
}

/** A name for a listener or relay route: 1-100 characters, no spaces or control characters. */
export function parseName(value: unknown): string {
  if (typeof value === 'string' && value.length >= 1 && value.length <= 100 && !/[\s\p{Cc}]/u.test(value)) {
    return value;
  }
  throw new FieldProblem(`expected a name without spaces (1-100 characters), got ${describeValue(value)}`);
}

function refuseRedacted(value: unknown): void {
  if (value === REDACTED) {
    throw new FieldProblem(
      `is the ${REDACTED} placeholder printed by "mxpress config check"; put the real secret here`,
    );
  }
}

/** An opaque secret token string (HTTP API); never echoed back in messages. */
export function parseToken(value: unknown): string {
  refuseRedacted(value);
  if (typeof value === 'string' && value.length >= 1 && value.length <= 1024 && !/[\s\p{Cc}]/u.test(value)) {
    return value;
  }
  const shown =
    typeof value === 'string' ? 'a string with spaces or of the wrong length' : describeValue(value);
  throw new FieldProblem(`expected a token string (1-1024 characters, no spaces), got ${shown}`);
}

/**
 * A password or shared secret to hand to another system: a string of `min` to 1024
 * characters without control characters. Never echoed back in messages; a number
 * (YAML reads `1234` as one) is refused with a hint to quote it.
 */
export function parseSecret(value: unknown, min = 1): string {
  refuseRedacted(value);
  if (typeof value === 'number') throw new FieldProblem('expected a string; put the value in quotes');
  if (typeof value !== 'string') throw new FieldProblem(`expected a string, got ${describeValue(value)}`);
  if (value.length < min || value.length > 1024 || /\p{Cc}/u.test(value)) {
    throw new FieldProblem(
      `expected ${min}-1024 characters without control characters, got a string of ${value.length}`,
    );
  }
  return value;
}

/** A comma-separated list (environment variables, `--retry-intervals`), empty items refused. */
export function splitList(value: string): string[] {
  const items = value.split(',').map((s) => s.trim());
  if (items.some((s) => s === '')) throw new FieldProblem(`empty item in the list ${describeValue(value)}`);
  return items;
}
