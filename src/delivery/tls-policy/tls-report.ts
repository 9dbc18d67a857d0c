/**
 * TLS-RPT data (RFC 8460): per policy domain, how many sessions negotiated TLS as
 * the policy asked and how many failed, by result type, kept in memory.
 *
 * In: one record per session attempt (`recordSuccess` / `recordFailure`) and
 * `SmtpClientError`s to classify (`resultTypeFor`). Out: `snapshot()`, plain JSON
 * ready for an API route or a report generator. Bounded: at most `maxDomains`
 * policy domains (further ones are counted in `dropped`) and `maxDetails` failure
 * details per domain. The MX host names and addresses recorded come from DNS
 * (untrusted) and are only stored, never interpreted. Never throws.
 */
import { SmtpClientError } from '../smtp-client/errors.ts';

/** RFC 8460 4.3 result types (the DANE ones are listed for completeness; we do not do DANE). */
export type TlsResultType =
  | 'starttls-not-supported'
  | 'certificate-host-mismatch'
  | 'certificate-expired'
  | 'certificate-not-trusted'
  | 'validation-failure'
  | 'tlsa-invalid'
  | 'dnssec-invalid'
  | 'dane-required'
  | 'sts-policy-fetch-error'
  | 'sts-policy-invalid'
  | 'sts-webpki-invalid';

/** RFC 8460 4.4 policy types. */
export type TlsPolicyType = 'sts' | 'tlsa' | 'no-policy-found';

export interface TlsFailureDetail {
  readonly resultType: TlsResultType;
  readonly receivingMxHostname?: string;
  readonly receivingIp?: string;
  readonly failedSessionCount: number;
}

export interface TlsReportEntry {
  readonly policyDomain: string;
  readonly policyType: TlsPolicyType;
  /** The policy as served (MTA-STS policy lines), when there is one. */
  readonly policyStrings?: readonly string[];
  readonly mxHosts?: readonly string[];
  readonly totalSuccessfulSessionCount: number;
  readonly totalFailureSessionCount: number;
  readonly failureDetails: readonly TlsFailureDetail[];
  /** Epoch ms of the first and last record. */
  readonly firstAt: number;
  readonly lastAt: number;
}

export interface TlsReportSnapshot {
  readonly domains: readonly TlsReportEntry[];
  /** Records refused because `maxDomains` was reached. */
  readonly dropped: number;
}

export interface PolicyInfo {
  readonly policyType: TlsPolicyType;
  readonly policyStrings?: readonly string[];
  readonly mxHosts?: readonly string[];
}

interface Counts {
  info: PolicyInfo;
  ok: number;
  failed: number;
  details: Map<string, { resultType: TlsResultType; mx?: string; ip?: string; count: number }>;
  firstAt: number;
  lastAt: number;
}

export class TlsReportStore {
  #domains = new Map<string, Counts>();
  #dropped = 0;
  #maxDomains: number;
  #maxDetails: number;
  #now: () => number;

  constructor(options: { maxDomains?: number; maxDetails?: number; now?: () => number } = {}) {
    this.#maxDomains = options.maxDomains ?? 10_000;
    this.#maxDetails = options.maxDetails ?? 100;
    this.#now = options.now ?? Date.now;
  }

  recordSuccess(policyDomain: string, info: PolicyInfo): void {
    const counts = this.#entry(policyDomain, info);
    if (counts) counts.ok++;
  }

  recordFailure(
    policyDomain: string,
    info: PolicyInfo,
    resultType: TlsResultType,
    where: { readonly mxHost?: string; readonly ip?: string } = {},
  ): void {
    const counts = this.#entry(policyDomain, info);
    if (!counts) return;
    counts.failed++;
    const key = `${resultType}|${where.mxHost ?? ''}|${where.ip ?? ''}`;
    const detail = counts.details.get(key);
    if (detail) detail.count++;
    else if (counts.details.size < this.#maxDetails) {
      counts.details.set(key, {
        resultType,
        ...(where.mxHost ? { mx: where.mxHost } : {}),
        ...(where.ip ? { ip: where.ip } : {}),
        count: 1,
      });
    }
  }

  snapshot(): TlsReportSnapshot {
    const domains: TlsReportEntry[] = [];
    for (const [policyDomain, c] of this.#domains) {
      domains.push({
        policyDomain,
        policyType: c.info.policyType,
        ...(c.info.policyStrings ? { policyStrings: [...c.info.policyStrings] } : {}),
        ...(c.info.mxHosts ? { mxHosts: [...c.info.mxHosts] } : {}),
        totalSuccessfulSessionCount: c.ok,
        totalFailureSessionCount: c.failed,
        failureDetails: [...c.details.values()].map((d) => ({
          resultType: d.resultType,
          ...(d.mx ? { receivingMxHostname: d.mx } : {}),
          ...(d.ip ? { receivingIp: d.ip } : {}),
          failedSessionCount: d.count,
        })),
        firstAt: c.firstAt,
        lastAt: c.lastAt,
      });
    }
    return { domains, dropped: this.#dropped };
  }

  /** Forgets everything (after a report has been sent). */
  clear(): void {
    this.#domains.clear();
    this.#dropped = 0;
  }

  #entry(policyDomain: string, info: PolicyInfo): Counts | undefined {
    const now = this.#now();
    let counts = this.#domains.get(policyDomain);
    if (!counts) {
      if (this.#domains.size >= this.#maxDomains) {
        this.#dropped++;
        return undefined;
      }
      counts = { info, ok: 0, failed: 0, details: new Map(), firstAt: now, lastAt: now };
      this.#domains.set(policyDomain, counts);
    }
    counts.info = info;
    counts.lastAt = now;
    return counts;
  }
}

const HOST_MISMATCH = new Set(['ERR_TLS_CERT_ALTNAME_INVALID', 'ERR_TLS_CERT_ALTNAME_FORMAT']);
const EXPIRED = new Set(['CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID']);
const NOT_TRUSTED = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_UNTRUSTED',
]);

/** The RFC 8460 result type of a failed session, or undefined when the failure was not about TLS. */
export function resultTypeFor(error: unknown): TlsResultType | undefined {
  if (!(error instanceof SmtpClientError)) return undefined;
  if (error.code === 'TLS_REQUIRED') return 'starttls-not-supported';
  if (error.code !== 'TLS_FAILED') return undefined;
  if (error.reply) return 'starttls-not-supported';
  const cause = (error.cause as { code?: unknown } | undefined)?.code;
  if (typeof cause === 'string') {
    if (HOST_MISMATCH.has(cause)) return 'certificate-host-mismatch';
    if (EXPIRED.has(cause)) return 'certificate-expired';
    if (NOT_TRUSTED.has(cause)) return 'certificate-not-trusted';
  }
  return 'validation-failure';
}
