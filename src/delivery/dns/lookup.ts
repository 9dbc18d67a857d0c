/**
 * One name + type lookup as a stub resolver does it: servers in order, a timeout
 * and one retry per server, TCP when the UDP reply is truncated, CNAME chains
 * followed (within a reply, then by asking again for the target; at most 8 hops),
 * and a TTL-respecting cache.
 *
 * In: a lower-case A-label name (resolver.ts normalizes) and a type code. Out: the
 * records of that type at the end of the chain, `nodata`, `nxdomain`, or a
 * temporary failure — never a rejection. Caching: answers for the smallest TTL in
 * the chain (capped at a day), NXDOMAIN/NODATA for the SOA minimum capped at an
 * hour (not at all without an SOA), SERVFAIL/REFUSED for 5 s, timeouts and other
 * errors not at all. Identical concurrent lookups share one query. Replies are
 * UNTRUSTED: only records owned by the names of our chain are used.
 */
import { randomInt } from 'node:crypto';
import type { DnsTemporaryCode, DnsTemporaryFailure } from '../../contracts/resolver.ts';
import { TtlCache } from './cache.ts';
import type { ServerAddress } from './servers.ts';
import { exchangeTcp, exchangeUdp, type Query } from './transport.ts';
import { CLASS_IN, type DnsMessage, type DnsRecord, RCODE, recordTypeCode, typeName } from './wire.ts';
import { lowerName } from './wire-name.ts';

/** `ttl` is in seconds: how long the outcome may be cached. */
export type LookupOutcome =
  | { readonly kind: 'answer'; readonly records: readonly DnsRecord[]; readonly ttl: number }
  | { readonly kind: 'nodata'; readonly ttl: number }
  | { readonly kind: 'nxdomain'; readonly ttl: number }
  | (DnsTemporaryFailure & { readonly ttl: number });

export interface LookupOptions {
  readonly servers: readonly ServerAddress[];
  readonly timeoutMs: number;
  readonly cacheMaxEntries: number;
  readonly now: () => number;
}

const MAX_CNAME_HOPS = 8;
const MAX_POSITIVE_TTL = 86_400;
/**
 * Answers are kept at least this long (seconds), as caching resolvers commonly do:
 * zones served with TTL 0 (dnsmasq's default for local records) would otherwise cost
 * a query per message. Short enough that a changed MX is seen within seconds.
 */
const MIN_POSITIVE_TTL = 5;
const MAX_NEGATIVE_TTL = 3_600;
const TEMPORARY_TTL = 5;
const TRIES_PER_SERVER = 2;

type Interpretation =
  | { kind: 'answer'; records: DnsRecord[]; ttl: number }
  | { kind: 'cname'; target: string; ttl: number }
  | { kind: 'nodata' | 'nxdomain'; ttl: number }
  | { kind: 'loop' };

function negativeTtl(message: DnsMessage): number {
  const soa = message.authority.find((r) => r.type === 'SOA');
  if (soa === undefined || soa.type !== 'SOA') return 0;
  return Math.min(soa.ttl, soa.minimum, MAX_NEGATIVE_TTL);
}

/** Walks the answer section from `name` through CNAMEs to records of `type`. */
function interpret(message: DnsMessage, name: string, type: number): Interpretation {
  let current = name;
  let ttl = MAX_POSITIVE_TTL;
  for (let hop = 0; ; hop++) {
    const owned = message.answers.filter((r) => r.class === CLASS_IN && lowerName(r.name) === current);
    const records = owned.filter((r) => recordTypeCode(r) === type);
    if (records.length > 0)
      return { kind: 'answer', records, ttl: Math.min(ttl, ...records.map((r) => r.ttl)) };
    const cname = owned.find((r) => r.type === 'CNAME');
    if (cname === undefined || cname.type !== 'CNAME') break;
    if (hop >= MAX_CNAME_HOPS) return { kind: 'loop' };
    ttl = Math.min(ttl, cname.ttl);
    current = lowerName(cname.target);
  }
  if (message.rcode === RCODE.NXDOMAIN) return { kind: 'nxdomain', ttl: Math.min(ttl, negativeTtl(message)) };
  if (current !== name) return { kind: 'cname', target: current, ttl };
  return { kind: 'nodata', ttl: negativeTtl(message) };
}

function temporary(code: DnsTemporaryCode, message: string, ttl = 0): DnsTemporaryFailure & { ttl: number } {
  return { kind: 'temporary', code, message, ttl };
}

export class DnsLookup {
  readonly #servers: readonly ServerAddress[];
  readonly #timeoutMs: number;
  readonly #cache: TtlCache<LookupOutcome>;
  readonly #inflight = new Map<string, Promise<LookupOutcome>>();

  constructor(options: LookupOptions) {
    if (options.servers.length === 0) throw new Error('DnsLookup needs at least one server');
    this.#servers = options.servers;
    this.#timeoutMs = options.timeoutMs;
    this.#cache = new TtlCache(options.cacheMaxEntries, options.now);
  }

  lookup(name: string, type: number): Promise<LookupOutcome> {
    const key = `${type}/${name}`;
    // A cached answer (the usual case under load) skips the in-flight bookkeeping.
    const hit = this.#cache.get(key);
    if (hit !== undefined) return Promise.resolve(hit);
    const running = this.#inflight.get(key);
    if (running !== undefined) return running;
    const promise = this.#cached(name, type, MAX_CNAME_HOPS).finally(() => this.#inflight.delete(key));
    this.#inflight.set(key, promise);
    return promise;
  }

  async #cached(name: string, type: number, hopsLeft: number): Promise<LookupOutcome> {
    const key = `${type}/${name}`;
    const hit = this.#cache.get(key);
    if (hit !== undefined) return hit;
    const outcome = await this.#resolve(name, type, hopsLeft);
    this.#cache.set(key, outcome, outcome.ttl * 1000);
    return outcome;
  }

  async #resolve(name: string, type: number, hopsLeft: number): Promise<LookupOutcome> {
    const reply = await this.#ask(name, type);
    if (reply.kind === 'temporary') return reply;
    const meaning = interpret(reply.message, name, type);
    switch (meaning.kind) {
      case 'answer':
        return {
          kind: 'answer',
          records: meaning.records,
          ttl: Math.max(MIN_POSITIVE_TTL, Math.min(meaning.ttl, MAX_POSITIVE_TTL)),
        };
      case 'nodata':
      case 'nxdomain':
        return { kind: meaning.kind, ttl: meaning.ttl };
      case 'loop':
        return temporary('DNS_ERROR', `CNAME chain longer than ${MAX_CNAME_HOPS} for ${name}`);
      case 'cname': {
        if (hopsLeft <= 0)
          return temporary('DNS_ERROR', `CNAME chain longer than ${MAX_CNAME_HOPS} for ${name}`);
        const target = await this.#cached(meaning.target, type, hopsLeft - 1);
        return target.kind === 'temporary' ? target : { ...target, ttl: Math.min(target.ttl, meaning.ttl) };
      }
      default:
        return meaning satisfies never;
    }
  }

  /** Asks the servers in order until one gives a usable NOERROR/NXDOMAIN reply. */
  async #ask(
    name: string,
    type: number,
  ): Promise<{ kind: 'message'; message: DnsMessage } | (DnsTemporaryFailure & { ttl: number })> {
    const what = `${name}/${typeName(type)}`;
    let failure = temporary('DNS_TIMEOUT', `no DNS server answered for ${what}`);
    for (const server of this.#servers) {
      for (let attempt = 0; attempt < TRIES_PER_SERVER; attempt++) {
        const query: Query = { id: randomInt(0, 65536), name, type };
        let result = await exchangeUdp(server, query, this.#timeoutMs);
        if (result.kind === 'reply' && result.message.tc)
          result = await exchangeTcp(server, query, this.#timeoutMs);
        if (result.kind === 'timeout') {
          failure = temporary(
            'DNS_TIMEOUT',
            `DNS timeout after ${this.#timeoutMs} ms asking ${server.label} for ${what}`,
          );
          continue;
        }
        if (result.kind === 'error') {
          failure = temporary('DNS_ERROR', `DNS error asking ${server.label} for ${what}: ${result.message}`);
          break;
        }
        const rcode = result.message.rcode;
        if (rcode === RCODE.NOERROR || rcode === RCODE.NXDOMAIN)
          return { kind: 'message', message: result.message };
        if (rcode === RCODE.SERVFAIL) {
          failure = temporary('DNS_SERVFAIL', `SERVFAIL from ${server.label} for ${what}`, TEMPORARY_TTL);
        } else if (rcode === RCODE.REFUSED) {
          failure = temporary('DNS_REFUSED', `REFUSED by ${server.label} for ${what}`, TEMPORARY_TTL);
        } else {
          failure = temporary('DNS_ERROR', `rcode ${rcode} from ${server.label} for ${what}`);
        }
        break;
      }
    }
    return failure;
  }
}
