/**
 * IP addresses and CIDR blocks: parsing and membership.
 *
 * `parseIp` accepts dotted-quad IPv4 (no leading zeros, which some parsers read as
 * octal) and RFC 4291 IPv6 text, including `::` compression, an embedded IPv4 tail
 * and a `%zone` suffix (ignored). IPv4-mapped IPv6 (`::ffff:1.2.3.4`) is reduced to
 * the IPv4 address, and a CIDR inside `::ffff:0:0/96` to the IPv4 block, so a client
 * seen on a dual-stack socket matches `127.0.0.0/8`. `parseCidr` throws `FieldProblem`
 * on bad input (host bits set included: `10.0.0.1/8` is refused as a likely typo); a
 * bare address means a single host. `cidrContains` never throws: an unparsable client
 * address matches nothing. Inputs here may be untrusted (client addresses).
 */
import { formatIPv4, formatIPv6, parseIPv4, parseIPv6 } from '../protocol/ip.ts';
import { describeValue, FieldProblem } from './errors.ts';

export interface IpAddress {
  readonly family: 4 | 6;
  /** 4 or 16 bytes, network order. */
  readonly bytes: Uint8Array;
}

export interface Cidr extends IpAddress {
  readonly prefix: number;
  /** Canonical text, e.g. `10.0.0.0/8`, `::1/128`. */
  readonly text: string;
}

const MAX_TEXT = 100;

function isV4Mapped(bytes: Uint8Array): boolean {
  if (bytes.length !== 16) return false;
  for (let i = 0; i < 10; i++) if (bytes[i] !== 0) return false;
  return bytes[10] === 0xff && bytes[11] === 0xff;
}

/** Parses an IP address; `undefined` when it is not one. IPv4-mapped IPv6 comes back as IPv4. */
export function parseIp(text: string): IpAddress | undefined {
  if (typeof text !== 'string' || text.length === 0 || text.length > MAX_TEXT) return undefined;
  if (!text.includes(':')) {
    const v4 = parseIPv4(text);
    return v4 === undefined ? undefined : { family: 4, bytes: v4 };
  }
  const zone = text.indexOf('%');
  const v6 = parseIPv6(zone === -1 ? text : text.slice(0, zone));
  if (v6 === undefined || zone === text.length - 1) return undefined;
  if (isV4Mapped(v6)) return { family: 4, bytes: v6.slice(12) };
  return { family: 6, bytes: v6 };
}

function formatIp(ip: IpAddress): string {
  return ip.family === 4 ? formatIPv4(ip.bytes) : formatIPv6(ip.bytes);
}

/** Parses `a.b.c.d/n`, `v6/n` or a bare address (a single host). Throws `FieldProblem`. */
export function parseCidr(text: string): Cidr {
  const fail = (why: string): never => {
    throw new FieldProblem(`${why}, got ${describeValue(text)}`);
  };
  if (typeof text !== 'string') return fail('expected a CIDR block like 10.0.0.0/8 or fd00::/8');
  const trimmed = text.trim();
  const slash = trimmed.indexOf('/');
  const addressText = slash === -1 ? trimmed : trimmed.slice(0, slash);
  if (addressText.includes('%')) return fail('a CIDR block cannot carry an IPv6 zone');
  const ip = parseIp(addressText);
  if (ip === undefined) return fail('expected a CIDR block like 10.0.0.0/8 or fd00::/8');
  const written = addressText.includes(':') ? 128 : 32;
  let prefix = written;
  if (slash !== -1) {
    const prefixText = trimmed.slice(slash + 1);
    if (!/^\d{1,3}$/.test(prefixText) || Number(prefixText) > written) {
      return fail(`expected a prefix length 0-${written} after "/"`);
    }
    prefix = Number(prefixText);
  }
  if (ip.family === 4 && written === 128) {
    // Written as IPv4-mapped IPv6: only meaningful within ::ffff:0:0/96.
    if (prefix < 96) return fail('an IPv4-mapped block needs a prefix of at least 96');
    prefix -= 96;
  }
  const bytes = new Uint8Array(ip.bytes);
  for (let bit = prefix; bit < bytes.length * 8; bit++) {
    if ((bytes[bit >> 3]! >> (7 - (bit & 7))) & 1) {
      const network = maskTo(bytes, prefix);
      const suggestion = `${formatIp({ family: ip.family, bytes: network })}/${prefix}`;
      return fail(`host bits are set (did you mean ${suggestion}?)`);
    }
  }
  return { family: ip.family, bytes, prefix, text: `${formatIp(ip)}/${prefix}` };
}

function maskTo(bytes: Uint8Array, prefix: number): Uint8Array {
  const out = new Uint8Array(bytes.length);
  for (let bit = 0; bit < prefix; bit++) {
    const i = bit >> 3;
    out[i] = out[i]! | (bytes[i]! & (0x80 >> (bit & 7)));
  }
  return out;
}

function contains(cidr: Cidr, ip: IpAddress): boolean {
  if (cidr.family !== ip.family) return false;
  const fullBytes = cidr.prefix >> 3;
  for (let i = 0; i < fullBytes; i++) if (cidr.bytes[i] !== ip.bytes[i]) return false;
  const restBits = cidr.prefix & 7;
  if (restBits === 0) return true;
  const mask = (0xff << (8 - restBits)) & 0xff;
  return ((cidr.bytes[fullBytes]! ^ ip.bytes[fullBytes]!) & mask) === 0;
}

/** Parses a list of CIDRs once, for callers that check many addresses. Throws `FieldProblem`. */
export function parseCidrs(texts: readonly string[]): Cidr[] {
  return texts.map((t) => parseCidr(t));
}

/**
 * True when `ip` lies in any of `cidrs`. Strings in `cidrs` are parsed on each call
 * (pass `parseCidrs` output on hot paths); an unparsable `ip` matches nothing.
 */
export function cidrContains(cidrs: readonly (string | Cidr)[], ip: string): boolean {
  const address = parseIp(ip);
  if (address === undefined) return false;
  for (const entry of cidrs) {
    const cidr = typeof entry === 'string' ? parseCidr(entry) : entry;
    if (contains(cidr, address)) return true;
  }
  return false;
}

/** Canonical text of an IP address (RFC 5952 for IPv6; IPv4-mapped shown as IPv4). */
export function canonicalIp(text: string): string | undefined {
  const ip = parseIp(text);
  return ip === undefined ? undefined : formatIp(ip);
}
