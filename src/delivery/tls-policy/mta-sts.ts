/**
 * MTA-STS (RFC 8461) for outbound delivery: discovers a domain's policy through OUR
 * resolver (`_mta-sts.<domain>` TXT), fetches the policy file over HTTPS, keeps it
 * for its max_age and says which MX hosts it allows.
 *
 * Parsing of the TXT record and the policy file and MX matching are mailauth's
 * (`resolvePolicy`, `parsePolicy`, `validateMx`); the HTTPS fetch is ours so that it
 * uses our resolver, has a CA and port that tests can set, and keeps our limits
 * (64 KiB, one overall timeout, no redirects, certificate valid for
 * `mta-sts.<domain>`). Everything fetched is UNTRUSTED input.
 *
 * `lookup()` never rejects: it answers `none` (no policy), `policy` (a fresh or
 * cached one) or `error` (a TXT record exists but the policy could not be fetched
 * or parsed, and nothing valid is cached: RFC 8461 5.1 says deliver as if there
 * were no policy, and TLS-RPT reports it). Cache: at most `maxEntries` domains; a
 * policy id whose fetch failed is not fetched again for `retryAfterErrorMs`, and
 * concurrent lookups of one domain share one fetch.
 */
import https from 'node:https';
import { parsePolicy, resolvePolicy, validateMx } from 'mailauth/lib/mta-sts.js';
import type { Resolver } from '../../contracts/resolver.ts';

export type StsMode = 'enforce' | 'testing' | 'none';

export interface StsPolicy {
  readonly id: string;
  readonly mode: StsMode;
  /** MX patterns (`mx.example.com`, `*.example.net`), lower case. */
  readonly mx: readonly string[];
  readonly maxAgeSeconds: number;
  /** Epoch ms after which the policy must be fetched again. */
  readonly expiresAt: number;
  /** The policy's lines, for TLS-RPT `policy-string`. */
  readonly lines: readonly string[];
}

export type StsLookup =
  | { readonly kind: 'none' }
  | { readonly kind: 'policy'; readonly policy: StsPolicy; readonly cached: boolean }
  | { readonly kind: 'error'; readonly reason: 'fetch' | 'invalid'; readonly message: string };

/** Fetches `https://mta-sts.<domain>/.well-known/mta-sts.txt`; resolves with the body or rejects. */
export type PolicyFetcher = (domain: string) => Promise<string>;

export interface HttpsFetcherOptions {
  readonly resolver: Resolver;
  /** 443 unless a test says otherwise. */
  readonly port?: number;
  /** Trusted CA certificates (PEM) instead of Node's bundle (tests). */
  readonly ca?: string | readonly string[];
  /** Whole request, DNS included (default 30 s; RFC 8461 3.3 suggests at most a minute). */
  readonly timeoutMs?: number;
  /** Default 64 KiB (RFC 8461 3.3). */
  readonly maxBytes?: number;
}

class PolicyFetchError extends Error {
  readonly reason: 'fetch' | 'invalid';
  constructor(message: string, reason: 'fetch' | 'invalid' = 'fetch') {
    super(message);
    this.reason = reason;
  }
}

/** The standard fetcher: HTTPS GET with a verified certificate for mta-sts.<domain>. */
export function httpsPolicyFetcher(options: HttpsFetcherOptions): PolicyFetcher {
  const timeoutMs = options.timeoutMs ?? 30_000;
  const maxBytes = options.maxBytes ?? 64 * 1024;
  return async (domain) => {
    const host = `mta-sts.${domain}`;
    const signal = AbortSignal.timeout(timeoutMs);
    const lookup = await options.resolver.resolveAddresses(host);
    if (lookup.kind !== 'ok') throw new PolicyFetchError(`${host} has no address (${lookup.kind})`);
    const ip = lookup.addresses.find((a) => !a.includes(':')) ?? lookup.addresses[0];
    if (ip === undefined) throw new PolicyFetchError(`${host} has no address`);
    signal.throwIfAborted();
    return new Promise<string>((resolve, reject) => {
      const req = https.request(
        {
          host: ip,
          port: options.port ?? 443,
          path: '/.well-known/mta-sts.txt',
          method: 'GET',
          servername: host,
          headers: { host },
          rejectUnauthorized: true,
          ...(options.ca ? { ca: options.ca as string | string[] } : {}),
          agent: false,
          signal,
        },
        (res) => {
          const type = (res.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase();
          if (res.statusCode !== 200) {
            res.destroy();
            reject(new PolicyFetchError(`HTTP ${res.statusCode ?? '?'} from ${host}`));
            return;
          }
          if (type !== 'text/plain') {
            res.destroy();
            reject(new PolicyFetchError(`Content-Type ${JSON.stringify(type)} from ${host}`, 'invalid'));
            return;
          }
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (chunk: Buffer) => {
            size += chunk.length;
            if (size > maxBytes) {
              res.destroy();
              reject(new PolicyFetchError(`policy from ${host} is larger than ${maxBytes} bytes`, 'invalid'));
              return;
            }
            chunks.push(chunk);
          });
          res.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
          res.on('error', (error) => reject(new PolicyFetchError(`${host}: ${error.message}`)));
        },
      );
      req.on('error', (error) => reject(new PolicyFetchError(`${host}: ${error.message}`)));
      req.end();
    });
  };
}

export interface MtaStsOptions {
  readonly resolver: Resolver;
  readonly fetch: PolicyFetcher;
  readonly now?: () => number;
  readonly maxEntries?: number;
  /** Longest max_age honoured (RFC 8461 3.2: 31557600 s). */
  readonly maxAgeCapSeconds?: number;
  /** After a failed fetch, the same policy id is not fetched again for this long (default 5 min). */
  readonly retryAfterErrorMs?: number;
}

/** A Node-style TXT resolver on top of ours, in the shape mailauth calls. */
function txtAdapter(resolver: Resolver) {
  return async (name: string, type: string): Promise<string[][]> => {
    if (type !== 'TXT') throw Object.assign(new Error(`unexpected ${type} query`), { code: 'ENOTIMP' });
    const answer = await resolver.resolveTxt(name);
    if (answer.kind === 'ok') return answer.records.map((r) => [r]);
    if (answer.kind === 'nxdomain' || answer.kind === 'nodata')
      throw Object.assign(new Error(`${name}: ${answer.kind}`), { code: 'ENOTFOUND' });
    throw Object.assign(new Error(`${name}: ${answer.message}`), { code: answer.code });
  };
}

export class MtaStsPolicies {
  #options: MtaStsOptions;
  #cache = new Map<string, StsPolicy>();
  /** Lookups under way, so concurrent jobs for one domain share one fetch. */
  #pending = new Map<string, Promise<StsLookup>>();
  /** Recent fetch failures by domain, so a broken policy host is not asked for every message. */
  #failures = new Map<string, { id: string; until: number; lookup: StsLookup }>();
  #now: () => number;

  constructor(options: MtaStsOptions) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
  }

  /** The policy to apply to mail for `domain` now. Never rejects. */
  async lookup(domain: string): Promise<StsLookup> {
    const name = domain.toLowerCase().replace(/\.$/, '');
    if (name.startsWith('[')) return { kind: 'none' };
    const pending = this.#pending.get(name);
    if (pending) return pending;
    const lookup = this.#lookup(name).finally(() => this.#pending.delete(name));
    this.#pending.set(name, lookup);
    return lookup;
  }

  async #lookup(name: string): Promise<StsLookup> {
    const cached = this.#cache.get(name);
    const valid = cached && cached.expiresAt > this.#now() ? cached : undefined;
    // Most domains publish no policy: answer that from the (cached) TXT lookup
    // directly, and hand only a real `v=STSv1` record to the policy parser.
    const txt = await this.#options.resolver.resolveTxt(`_mta-sts.${name}`);
    if (txt.kind === 'temporary') {
      if (valid) return { kind: 'policy', policy: valid, cached: true };
      return {
        kind: 'error',
        reason: 'fetch',
        message: `TXT lookup failed: _mta-sts.${name}: ${txt.message}`,
      };
    }
    if (txt.kind !== 'ok' || !txt.records.some((r) => /^v=STSv1\b/i.test(r.trim()))) {
      if (valid) return { kind: 'policy', policy: valid, cached: true };
      return { kind: 'none' };
    }
    let id: string | false;
    try {
      id = await resolvePolicy(name, { resolver: txtAdapter(this.#options.resolver) });
    } catch (error) {
      // DNS trouble: a valid cached policy still applies (RFC 8461 5.1).
      if (valid) return { kind: 'policy', policy: valid, cached: true };
      return { kind: 'error', reason: 'fetch', message: `TXT lookup failed: ${messageOf(error)}` };
    }
    if (!id) {
      if (valid) return { kind: 'policy', policy: valid, cached: true };
      return { kind: 'none' };
    }
    if (valid && valid.id === id) return { kind: 'policy', policy: valid, cached: true };
    const failed = this.#failures.get(name);
    if (failed && failed.id === id && failed.until > this.#now())
      return valid ? { kind: 'policy', policy: valid, cached: true } : failed.lookup;
    let body: string;
    try {
      body = await this.#options.fetch(name);
    } catch (error) {
      const reason = error instanceof PolicyFetchError ? error.reason : 'fetch';
      return this.#failed(name, id, valid, { kind: 'error', reason, message: messageOf(error) });
    }
    let parsed: ReturnType<typeof parsePolicy>;
    try {
      parsed = parsePolicy(body);
    } catch (error) {
      return this.#failed(name, id, valid, { kind: 'error', reason: 'invalid', message: messageOf(error) });
    }
    this.#failures.delete(name);
    const cap = this.#options.maxAgeCapSeconds ?? 31_557_600;
    const maxAgeSeconds = Math.min(parsed.maxAge ?? 0, cap);
    const policy: StsPolicy = {
      id,
      mode: parsed.mode,
      mx: [...(parsed.mx ?? [])],
      maxAgeSeconds,
      expiresAt: this.#now() + maxAgeSeconds * 1000,
      lines: body
        .split(/\r?\n/)
        .map((l) => l.trim())
        .filter((l) => l !== '')
        .slice(0, 100),
    };
    this.#remember(name, policy);
    return { kind: 'policy', policy, cached: false };
  }

  /** Forgets a domain's cached policy. */
  forget(domain: string): void {
    this.#cache.delete(domain.toLowerCase());
  }

  /** Remembers a failed fetch for a while; a valid cached policy still applies (RFC 8461 5.1). */
  #failed(name: string, id: string, valid: StsPolicy | undefined, lookup: StsLookup): StsLookup {
    if (this.#failures.size >= (this.#options.maxEntries ?? 10_000)) this.#failures.clear();
    this.#failures.set(name, {
      id,
      until: this.#now() + (this.#options.retryAfterErrorMs ?? 300_000),
      lookup,
    });
    return valid ? { kind: 'policy', policy: valid, cached: true } : lookup;
  }

  #remember(name: string, policy: StsPolicy): void {
    this.#cache.delete(name);
    const max = this.#options.maxEntries ?? 10_000;
    while (this.#cache.size >= max) {
      const oldest = this.#cache.keys().next().value;
      if (oldest === undefined) break;
      this.#cache.delete(oldest);
    }
    this.#cache.set(name, policy);
  }
}

/** True when the policy allows delivery to this MX host name. */
export function mxAllowed(policy: StsPolicy, mxHost: string): boolean {
  return validateMx(mxHost, { mode: policy.mode, mx: [...policy.mx] }).valid;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
