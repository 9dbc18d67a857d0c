/**
 * Which DNS servers to ask: parses `ip`, `ip:port`, `v6` and `[v6]:port` strings,
 * and reads `nameserver` lines from /etc/resolv.conf when none are configured.
 *
 * `parseServer` returns undefined for anything that is not an IP address with a
 * valid port (host names are not accepted: resolving the resolver is circular).
 * `systemServers` reads the file synchronously once, at resolver creation; a
 * missing or empty file gives 127.0.0.1:53 as resolv.conf(5) specifies. Like the
 * C library, at most 3 servers are used; zone-scoped IPv6 (`fe80::1%eth0`) is skipped.
 */
import { readFileSync } from 'node:fs';
import { isIPv4, isIPv6 } from 'node:net';
import { canonicalIp } from '../../protocol/ip.ts';

export interface ServerAddress {
  readonly host: string;
  readonly family: 4 | 6;
  readonly port: number;
  /** `ip:port` or `[v6]:port`, for messages and `Resolver.servers`. */
  readonly label: string;
}

const MAX_SYSTEM_SERVERS = 3;

function make(host: string, port: number): ServerAddress | undefined {
  const canonical = canonicalIp(host);
  if (canonical === undefined || !Number.isInteger(port) || port < 1 || port > 65535) return undefined;
  const family = isIPv6(canonical) ? 6 : 4;
  return {
    host: canonical,
    family,
    port,
    label: family === 6 ? `[${canonical}]:${port}` : `${canonical}:${port}`,
  };
}

export function parseServer(text: string): ServerAddress | undefined {
  const value = text.trim();
  const bracketed = /^\[([^\]]+)\](?::(\d{1,5}))?$/.exec(value);
  if (bracketed !== null) {
    if (!isIPv6(bracketed[1]!)) return undefined;
    return make(bracketed[1]!, bracketed[2] === undefined ? 53 : Number(bracketed[2]));
  }
  if (isIPv6(value)) return make(value, 53);
  const v4 = /^([0-9.]+)(?::(\d{1,5}))?$/.exec(value);
  if (v4 === null || !isIPv4(v4[1]!)) return undefined;
  return make(v4[1]!, v4[2] === undefined ? 53 : Number(v4[2]));
}

/** Nameservers from a resolv.conf text, in file order. */
export function parseResolvConf(text: string): ServerAddress[] {
  const servers: ServerAddress[] = [];
  for (const line of text.split('\n')) {
    const match = /^\s*nameserver\s+(\S+)/.exec(line);
    if (match === null || match[1]!.includes('%')) continue;
    const server = isIPv6(match[1]!) ? make(match[1]!, 53) : parseServer(match[1]!);
    if (server !== undefined && servers.length < MAX_SYSTEM_SERVERS) servers.push(server);
  }
  return servers;
}

export function systemServers(path = '/etc/resolv.conf'): ServerAddress[] {
  let text = '';
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    // No file: the documented default below applies.
  }
  const servers = parseResolvConf(text);
  return servers.length > 0 ? servers : [make('127.0.0.1', 53)!];
}
