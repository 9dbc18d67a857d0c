/**
 * Our stub resolver: implements contracts/resolver.ts on top of lookup.ts.
 *
 * In: configured servers (`ip`, `ip:port`, `[v6]:port`; none means
 * /etc/resolv.conf), a per-query timeout, a cache size (0 turns caching off) and
 * an optional clock. Out: MX, address, TXT and PTR results as values; methods
 * never reject. `createResolver` throws only for an unusable configuration (a
 * server string that is not an IP address, a non-positive timeout).
 *
 * Names come from envelopes (UNTRUSTED): they are trimmed, U-labels converted to
 * A-labels, lower-cased and checked (letters, digits, `-`, `_`, label and name
 * lengths); a name that fails is answered `nxdomain` without asking anyone.
 * MX semantics follow RFC 5321 5.1 and RFC 7505, see `resolveMx`.
 */
import { isIP } from 'node:net';
import { domainToASCII } from 'node:url';
import type {
  AddressLookup,
  DnsTemporaryFailure,
  MxLookup,
  MxTarget,
  PtrLookup,
  Resolver,
  TxtLookup,
} from '../../contracts/resolver.ts';
import { canonicalIp, reverseName } from '../../protocol/ip.ts';
import { DnsLookup, type LookupOutcome } from './lookup.ts';
import { selectMxHosts } from './mx.ts';
import { parseServer, type ServerAddress, systemServers } from './servers.ts';
import { RR_TYPE } from './wire.ts';
import { lowerName } from './wire-name.ts';

export interface ResolverOptions {
  /** `ip`, `ip:port`, `[v6]:port`; `[]` reads the nameservers from /etc/resolv.conf. */
  readonly servers: readonly string[];
  /** Per query and attempt; a server gets two attempts before the next is asked. */
  readonly timeoutMs: number;
  /** Default 10,000; 0 disables the cache. */
  readonly cacheMaxEntries?: number;
  /** Clock for cache expiry, epoch ms (tests inject one). */
  readonly now?: () => number;
}

const DEFAULT_CACHE_ENTRIES = 10_000;
/** Letters, digits, `-` and `_` in labels of 1 to 63 octets (RFC 1035 2.3.4). */
const HOST_NAME = /^[a-z0-9_-]{1,63}(?:\.[a-z0-9_-]{1,63})*$/;
/** 255 octets on the wire: the text form without its trailing dot has at most 253. */
const MAX_NAME_LENGTH = 253;

/** Lower-case A-label form without trailing dot, or undefined when it cannot be a DNS name. */
export function normalizeName(input: string): string | undefined {
  let name = input.trim();
  if (name.endsWith('.')) name = name.slice(0, -1);
  if (/[^\x00-\x7f]/.test(name)) name = domainToASCII(name);
  name = lowerName(name);
  if (name.length > MAX_NAME_LENGTH || !HOST_NAME.test(name)) return undefined;
  return name;
}

function withoutTtl(outcome: DnsTemporaryFailure): DnsTemporaryFailure {
  return { kind: 'temporary', code: outcome.code, message: outcome.message };
}

function addressesOf(outcome: LookupOutcome): string[] {
  if (outcome.kind !== 'answer') return [];
  return outcome.records.flatMap((r) => (r.type === 'A' || r.type === 'AAAA' ? [r.address] : []));
}

/** An address literal domain (`[192.0.2.1]`, `[IPv6:2001:db8::1]`) as its canonical IP. */
function addressLiteral(domain: string): string | undefined {
  const match = /^\[(?:ipv6:)?([^\]]+)\]$/i.exec(domain.trim());
  return match === null ? undefined : canonicalIp(match[1]!);
}

class StubResolver implements Resolver {
  readonly servers: readonly string[];
  readonly #lookup: DnsLookup;

  constructor(servers: readonly ServerAddress[], lookup: DnsLookup) {
    this.servers = Object.freeze(servers.map((s) => s.label));
    this.#lookup = lookup;
  }

  async resolveAddresses(host: string): Promise<AddressLookup> {
    const ip = canonicalIp(host.trim());
    if (ip !== undefined) return { kind: 'ok', addresses: [ip] };
    const name = normalizeName(host);
    if (name === undefined) return { kind: 'nxdomain' };
    const [v6, v4] = await Promise.all([
      this.#lookup.lookup(name, RR_TYPE.AAAA),
      this.#lookup.lookup(name, RR_TYPE.A),
    ]);
    const addresses = [...new Set([...addressesOf(v6), ...addressesOf(v4)])];
    if (addresses.length > 0) return { kind: 'ok', addresses };
    if (v6.kind === 'temporary') return withoutTtl(v6);
    if (v4.kind === 'temporary') return withoutTtl(v4);
    if (v6.kind === 'nxdomain' && v4.kind === 'nxdomain') return { kind: 'nxdomain' };
    return { kind: 'nodata' };
  }

  /**
   * RFC 5321 5.1: MX records sorted by preference (ties shuffled); no MX records
   * means the domain itself is the (implicit) MX; a lone `.` is a null MX (RFC
   * 7505). Each MX host's A and AAAA are looked up in parallel; an MX naming an IP
   * address is taken as that address. Hosts without addresses are left out; when
   * none is left the result is `no-address`, or `temporary` if a lookup failed.
   */
  async resolveMx(domain: string): Promise<MxLookup> {
    const literal = addressLiteral(domain);
    if (literal !== undefined) {
      return {
        kind: 'ok',
        targets: [{ host: literal, preference: 0, addresses: [literal], implicit: true }],
      };
    }
    const name = normalizeName(domain);
    if (name === undefined) return { kind: 'nxdomain' };
    const mx = await this.#lookup.lookup(name, RR_TYPE.MX);
    switch (mx.kind) {
      case 'temporary':
        return withoutTtl(mx);
      case 'nxdomain':
        return { kind: 'nxdomain' };
      case 'nodata':
        return this.#implicitMx(name);
      case 'answer':
        break;
      default:
        return mx satisfies never;
    }
    const selection = selectMxHosts(mx.records);
    if (selection.kind === 'null-mx') return { kind: 'null-mx' };
    const lookups = await Promise.all(
      selection.hosts.map(async ({ host }) => {
        const ip = canonicalIp(host);
        return ip === undefined ? this.resolveAddresses(host) : ({ kind: 'ok', addresses: [ip] } as const);
      }),
    );
    const targets: MxTarget[] = [];
    let failure: DnsTemporaryFailure | undefined;
    selection.hosts.forEach(({ host, preference }, i) => {
      const result = lookups[i]!;
      if (result.kind === 'ok')
        targets.push({ host, preference, addresses: result.addresses, implicit: false });
      else if (result.kind === 'temporary') failure ??= result;
    });
    if (targets.length > 0) return { kind: 'ok', targets };
    if (failure !== undefined) return failure;
    const hosts = selection.hosts.map((h) => h.host).join(', ');
    return { kind: 'no-address', message: `no MX host of ${name} has an A or AAAA record (${hosts})` };
  }

  async #implicitMx(name: string): Promise<MxLookup> {
    const result = await this.resolveAddresses(name);
    switch (result.kind) {
      case 'ok':
        return {
          kind: 'ok',
          targets: [{ host: name, preference: 0, addresses: result.addresses, implicit: true }],
        };
      case 'temporary':
        return result;
      default:
        return { kind: 'no-address', message: `${name} has no MX records and no A or AAAA record` };
    }
  }

  async resolveTxt(name: string): Promise<TxtLookup> {
    const normalized = normalizeName(name);
    if (normalized === undefined) return { kind: 'nxdomain' };
    const outcome = await this.#lookup.lookup(normalized, RR_TYPE.TXT);
    if (outcome.kind !== 'answer')
      return outcome.kind === 'temporary' ? withoutTtl(outcome) : { kind: outcome.kind };
    const records = outcome.records.flatMap((r) => (r.type === 'TXT' ? [r.strings.join('')] : []));
    return { kind: 'ok', records };
  }

  async resolvePtr(ip: string): Promise<PtrLookup> {
    const name = isIP(ip.trim()) === 0 ? undefined : reverseName(ip.trim());
    if (name === undefined) return { kind: 'nxdomain' };
    const outcome = await this.#lookup.lookup(name, RR_TYPE.PTR);
    if (outcome.kind !== 'answer')
      return outcome.kind === 'temporary' ? withoutTtl(outcome) : { kind: outcome.kind };
    const names = outcome.records.flatMap((r) => (r.type === 'PTR' ? [lowerName(r.target)] : []));
    return { kind: 'ok', names };
  }
}

export function createResolver(options: ResolverOptions): Resolver {
  const servers =
    options.servers.length === 0
      ? systemServers()
      : options.servers.map((text) => {
          const server = parseServer(text);
          if (server === undefined)
            throw new Error(`DNS server is not an IP address with optional port: ${text}`);
          return server;
        });
  if (!(options.timeoutMs > 0) || !Number.isFinite(options.timeoutMs)) {
    throw new Error(`DNS timeout must be a positive number of ms, got ${options.timeoutMs}`);
  }
  const lookup = new DnsLookup({
    servers,
    timeoutMs: options.timeoutMs,
    cacheMaxEntries: options.cacheMaxEntries ?? DEFAULT_CACHE_ENTRIES,
    now: options.now ?? Date.now,
  });
  return new StubResolver(servers, lookup);
}
