/**
 * The DNS resolver as delivery sees it: MX lookup with RFC 5321 section 5.1
 * semantics, address, TXT and PTR lookups.
 *
 * Types only. The implementation is delivery/dns/resolver.ts (our own stub
 * resolver over UDP/TCP); tests may use any object with this shape. No method
 * rejects: every failure is a value. `temporary` results must be retried later
 * (SMTP 451 4.4.3); `nxdomain` and `null-mx` are permanent.
 */

/** Why a lookup failed for now: the server said SERVFAIL/REFUSED, nobody answered, or the reply was unusable. */
export type DnsTemporaryCode = 'DNS_SERVFAIL' | 'DNS_TIMEOUT' | 'DNS_REFUSED' | 'DNS_ERROR';

export interface DnsTemporaryFailure {
  readonly kind: 'temporary';
  readonly code: DnsTemporaryCode;
  /** Operator-facing detail (server, name, type); never sent to a peer as is. */
  readonly message: string;
}

export interface MxTarget {
  /** Lower-case host name without trailing dot (or the IP literal an MX named). */
  readonly host: string;
  readonly preference: number;
  /** IPv6 addresses first, then IPv4; never empty in an `ok` result. */
  readonly addresses: readonly string[];
  /** True when the domain had no MX records and its own A/AAAA are used (RFC 5321 5.1). */
  readonly implicit: boolean;
}

export type MxLookup =
  /** Sorted by preference; equal preferences shuffled per lookup. Hosts without addresses are left out. */
  | { readonly kind: 'ok'; readonly targets: readonly MxTarget[] }
  /** RFC 7505: the domain accepts no mail; the caller fails with 556 5.1.10. */
  | { readonly kind: 'null-mx' }
  /** The domain does not exist: permanent, 550 5.1.2. */
  | { readonly kind: 'nxdomain' }
  /** MX hosts (or the implicit MX) exist but none has A/AAAA: temporary now, permanent after expiry. */
  | { readonly kind: 'no-address'; readonly message: string }
  | DnsTemporaryFailure;

export type AddressLookup =
  /** IPv6 addresses first, then IPv4; never empty. */
  | { readonly kind: 'ok'; readonly addresses: string[] }
  | { readonly kind: 'nxdomain' }
  /** The name exists but has neither A nor AAAA. */
  | { readonly kind: 'nodata' }
  | DnsTemporaryFailure;

export type TxtLookup =
  /** One string per TXT record: the record's character-strings joined without separator. */
  | { readonly kind: 'ok'; readonly records: string[] }
  | { readonly kind: 'nxdomain' }
  | { readonly kind: 'nodata' }
  | DnsTemporaryFailure;

export type PtrLookup =
  /** Lower-case names without trailing dot. */
  | { readonly kind: 'ok'; readonly names: string[] }
  | { readonly kind: 'nxdomain' }
  | { readonly kind: 'nodata' }
  | DnsTemporaryFailure;

export interface Resolver {
  /** `domain` may be a U-label name (converted to A-labels) or an address literal like `[192.0.2.1]`. */
  resolveMx(domain: string): Promise<MxLookup>;
  /** A and AAAA in parallel; an IP string resolves to itself. */
  resolveAddresses(host: string): Promise<AddressLookup>;
  resolveTxt(name: string): Promise<TxtLookup>;
  /** Reverse lookup of an IPv4 or IPv6 address (in-addr.arpa / ip6.arpa). */
  resolvePtr(ip: string): Promise<PtrLookup>;
  /** The servers asked, in order, normalized to `ip:port` / `[v6]:port`. */
  readonly servers: readonly string[];
}
