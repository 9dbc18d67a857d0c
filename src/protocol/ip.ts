/**
 * IP address text <-> bytes, RFC 5952 canonical IPv6 text, and reverse-lookup names.
 *
 * Pure functions. Parsers take untrusted text and return undefined when it is not
 * an address (they never throw); formatters take the 4 or 16 bytes a DNS record
 * carries. Used by the wire codec (A/AAAA rdata) and the resolver (PTR names).
 */
import { isIPv4, isIPv6 } from 'node:net';

/** Four bytes of a dotted-quad IPv4 address, or undefined. */
export function parseIPv4(text: string): Uint8Array | undefined {
  if (!isIPv4(text)) return undefined;
  return Uint8Array.from(text.split('.').map(Number));
}

/** Sixteen bytes of an IPv6 address (with `::` and a dotted IPv4 tail allowed), or undefined. */
export function parseIPv6(text: string): Uint8Array | undefined {
  if (!isIPv6(text) || text.includes('%')) return undefined;
  const out = new Uint8Array(16);
  const halves = text.split('::');
  const groupsOf = (part: string): number[] | undefined => {
    if (part === '') return [];
    const groups: number[] = [];
    for (const piece of part.split(':')) {
      if (piece.includes('.')) {
        const v4 = parseIPv4(piece);
        if (v4 === undefined) return undefined;
        groups.push((v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!);
      } else {
        groups.push(Number.parseInt(piece, 16));
      }
    }
    return groups;
  };
  const head = groupsOf(halves[0] ?? '');
  const tail = halves.length > 1 ? groupsOf(halves[1] ?? '') : [];
  if (head === undefined || tail === undefined) return undefined;
  const groups = [...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail];
  if (groups.length !== 8) return undefined;
  groups.forEach((group, i) => {
    out[i * 2] = group >> 8;
    out[i * 2 + 1] = group & 0xff;
  });
  return out;
}

export function formatIPv4(bytes: Uint8Array): string {
  return `${bytes[0]}.${bytes[1]}.${bytes[2]}.${bytes[3]}`;
}

/** RFC 5952: lower-case hex, no leading zeros, the longest run (>= 2) of zero groups as `::`. */
export function formatIPv6(bytes: Uint8Array): string {
  const groups: number[] = [];
  for (let i = 0; i < 8; i++) groups.push(((bytes[i * 2] ?? 0) << 8) | (bytes[i * 2 + 1] ?? 0));
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(':');
  const left = hex.slice(0, bestStart).join(':');
  const right = hex.slice(bestStart + bestLength).join(':');
  return `${left}::${right}`;
}

/** Canonical text of an IP string, or undefined when it is not one. */
export function canonicalIp(text: string): string | undefined {
  const v4 = parseIPv4(text);
  if (v4 !== undefined) return formatIPv4(v4);
  const v6 = parseIPv6(text);
  return v6 === undefined ? undefined : formatIPv6(v6);
}

/** `4.3.2.1.in-addr.arpa` or the 32-nibble `ip6.arpa` name, or undefined for a non-address. */
export function reverseName(ip: string): string | undefined {
  const v4 = parseIPv4(ip);
  if (v4 !== undefined) return `${[...v4].reverse().join('.')}.in-addr.arpa`;
  const v6 = parseIPv6(ip);
  if (v6 === undefined) return undefined;
  const nibbles: string[] = [];
  for (let i = 15; i >= 0; i--) {
    const byte = v6[i]!;
    nibbles.push((byte & 0xf).toString(16), (byte >> 4).toString(16));
  }
  return `${nibbles.join('.')}.ip6.arpa`;
}
