/**
 * The TLS side of a direct delivery: which policy the session uses, which MX hosts
 * may be used, and what is recorded for TLS-RPT.
 *
 * In: the operator's `delivery.tls` rules, the domain's MTA-STS policy (when an
 * MtaStsPolicies is given), the MX targets. Out: a `TlsDecision`: deliver with a
 * TLS policy, a destination key suffix (so sessions under different policies never
 * share pooled connections), a `connect` wrapper that records TLS-RPT results and
 * a rewrite of TLS failures into a 4.7.5 reply; or defer at once with 451 4.7.5
 * (MTA-STS `enforce` and no MX host allowed by the policy). MTA-STS `testing`
 * records what enforcement would have refused and delivers as configured.
 * Never rejects. The MX names come from DNS (untrusted) and are only compared.
 */
import type { SmtpReply } from '../../contracts/status.ts';
import type { ConnectTarget } from '../destination.ts';
import type { RecipientOutcome } from '../job.ts';
import type { ConnectOptions, SmtpConnection, TlsPolicy } from '../smtp-client/types.ts';
import { type MtaStsPolicies, mxAllowed, type StsPolicy } from './mta-sts.ts';
import { type TlsRule, tlsPolicyFor } from './rules.ts';
import { type PolicyInfo, resultTypeFor, type TlsReportStore } from './tls-report.ts';

type Connect = (options: ConnectOptions) => Promise<SmtpConnection>;

export type TlsDecision =
  | {
      readonly kind: 'deliver';
      readonly tls: TlsPolicy;
      readonly targets: readonly ConnectTarget[];
      /**
       * Appended to the destination key ('' for the default policy without MTA-STS). MTA-STS
       * domains get their own destination per policy id, so its recorder sees the current policy.
       */
      readonly keySuffix: string;
      /** Wraps the destination's connect to record TLS-RPT results (MTA-STS domains only). */
      readonly wrapConnect?: (connect: Connect) => Connect;
      /** Applied to the outcomes: TLS failures under a required policy get a 4.7.5 reply. */
      readonly finish: (outcomes: RecipientOutcome[]) => RecipientOutcome[];
      readonly sts?: 'enforce' | 'testing';
      /**
       * What deciding recorded for TLS-RPT (a policy that could not be fetched or
       * parsed), to record again for each later job the same decision serves.
       */
      readonly recordAgain?: () => void;
    }
  | { readonly kind: 'defer'; readonly reply: SmtpReply; readonly errorCode: string };

export interface TlsDecisionInput {
  readonly domain: string;
  readonly targets: readonly ConnectTarget[];
  readonly rules: readonly TlsRule[];
  readonly mtaSts?: MtaStsPolicies;
  readonly reports?: TlsReportStore;
}

export async function decideTls(input: TlsDecisionInput): Promise<TlsDecision> {
  const { domain, targets, reports } = input;
  const configured = tlsPolicyFor(
    input.rules,
    domain,
    targets.map((t) => t.mxHost),
  );
  const plain: TlsDecision = {
    kind: 'deliver',
    tls: configured,
    targets,
    keySuffix: configured === 'may' ? '' : `:tls=${configured}`,
    finish: (outcomes) => requiredTlsReply(outcomes, configured, `TLS policy "${configured}" for ${domain}`),
  };
  if (!input.mtaSts) return plain;
  const sts = await input.mtaSts.lookup(domain);
  if (sts.kind === 'none') return plain;
  if (sts.kind === 'error') {
    const record = (): void =>
      reports?.recordFailure(
        domain,
        { policyType: 'sts' },
        sts.reason === 'invalid' ? 'sts-policy-invalid' : 'sts-policy-fetch-error',
      );
    record();
    return { ...plain, recordAgain: record };
  }
  const policy = sts.policy;
  if (policy.mode === 'none') return plain;
  const info: PolicyInfo = { policyType: 'sts', policyStrings: policy.lines, mxHosts: policy.mx };
  const wrapConnect = reports
    ? (connect: Connect) => recording(connect, reports, domain, info, policy)
    : undefined;
  if (policy.mode === 'testing') {
    return {
      ...plain,
      keySuffix: `${plain.keySuffix}:sts-testing=${domain}/${policy.id}`,
      sts: 'testing',
      ...(wrapConnect ? { wrapConnect } : {}),
    };
  }
  const allowed = targets.filter((t) => mxAllowed(policy, t.mxHost));
  if (allowed.length === 0) {
    for (const t of targets) reports?.recordFailure(domain, info, 'validation-failure', { mxHost: t.mxHost });
    return {
      kind: 'defer',
      errorCode: 'MTA_STS_MX_MISMATCH',
      reply: {
        code: 451,
        enhanced: '4.7.5',
        text: `MTA-STS policy of ${domain} (enforce) allows none of its MX hosts (${targets
          .map((t) => t.mxHost)
          .join(', ')
          .slice(0, 200)})`,
      },
    };
  }
  return {
    kind: 'deliver',
    // The recipient's published policy wins over a local `none`/`may`/`encrypt` rule (RFC 8461 5).
    tls: 'verify',
    targets: allowed,
    keySuffix: `:sts=${domain}/${policy.id}`,
    finish: (outcomes) => requiredTlsReply(outcomes, 'verify', `MTA-STS policy of ${domain} (enforce)`),
    sts: 'enforce',
    ...(wrapConnect ? { wrapConnect } : {}),
  };
}

/** Records one TLS-RPT result per session attempt; the session itself is unchanged. */
function recording(
  connect: Connect,
  reports: TlsReportStore,
  domain: string,
  info: PolicyInfo,
  policy: StsPolicy,
): Connect {
  return async (options) => {
    const where = { mxHost: options.mxHost, ip: options.host };
    let connection: SmtpConnection;
    try {
      connection = await connect(options);
    } catch (error) {
      const type = resultTypeFor(error);
      if (type) reports.recordFailure(domain, info, type, where);
      throw error;
    }
    if (!mxAllowed(policy, options.mxHost)) reports.recordFailure(domain, info, 'validation-failure', where);
    else if (!connection.tls) reports.recordFailure(domain, info, 'starttls-not-supported', where);
    else if (!connection.tls.authorized)
      reports.recordFailure(domain, info, 'certificate-not-trusted', where);
    else reports.recordSuccess(domain, info);
    return connection;
  };
}

const TLS_CODES = new Set(['TLS_FAILED', 'TLS_REQUIRED']);

/** Under `encrypt`/`verify`, a session that failed for TLS reasons is deferred with 451 4.7.5 saying why. */
function requiredTlsReply(outcomes: RecipientOutcome[], tls: TlsPolicy, why: string): RecipientOutcome[] {
  if (tls !== 'encrypt' && tls !== 'verify') return outcomes;
  return outcomes.map((o) => {
    if (o.kind !== 'deferred' || !o.errorCode || !TLS_CODES.has(o.errorCode) || o.attempt?.reply) return o;
    const detail = o.reply.text.slice(0, 200);
    return {
      ...o,
      reply: {
        code: 451,
        enhanced: '4.7.5',
        text: `${why} requires ${tls === 'verify' ? 'verified ' : ''}TLS: ${detail}`,
      },
    };
  });
}
