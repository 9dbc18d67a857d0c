/**
 * Which TLS policy an outbound session to a direct destination uses, from the
 * operator's `delivery.tls` rules.
 *
 * Pure. In: the rules (first match wins), the recipient domain and the MX host
 * names. Patterns as elsewhere in the config: `example.com`, `*.example.com`, `*`,
 * or `mx:` and such a pattern matched against the MX host names. Out: a TlsPolicy;
 * `may` (opportunistic STARTTLS) when no rule matches. Never throws. Operator input.
 */
import type { TlsRule } from '../../config/types.ts';
import { matchesDomain } from '../router.ts';
import type { TlsPolicy } from '../smtp-client/types.ts';

export type { TlsRule };

export const DEFAULT_TLS_POLICY: TlsPolicy = 'may';

export function tlsPolicyFor(
  rules: readonly TlsRule[],
  domain: string,
  mxHosts: readonly string[],
): TlsPolicy {
  const name = domain.toLowerCase();
  for (const rule of rules) {
    if (rule.match.startsWith('mx:')) {
      const pattern = rule.match.slice(3);
      if (mxHosts.some((h) => matchesDomain(pattern, h.toLowerCase().replace(/\.$/, '')))) return rule.policy;
    } else if (matchesDomain(rule.match, name)) {
      return rule.policy;
    }
  }
  return DEFAULT_TLS_POLICY;
}
