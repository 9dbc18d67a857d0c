/**
 * Which way a job goes: straight to the recipient domain's MX, or through a relay.
 *
 * Pure. Patterns: `example.com` matches that domain only, `*.example.com` its
 * subdomains, `*` everything; `mx:` patterns match MX host names (used by shaping).
 * A relay route with `domains` takes those domains always; one with
 * `fallbackAfterAttempts` takes direct jobs whose recipients have already failed that
 * often; one with `fallbackOnPolicyBlock` is used at once when the destination
 * refuses our host by policy (see isPolicyBlock).
 */
import type { RelayRoute, ShapingRule } from '../config/types.ts';
import type { SmtpReply } from '../contracts/status.ts';

export function matchesDomain(pattern: string, domain: string): boolean {
  const p = pattern.toLowerCase();
  if (p === '*') return true;
  if (p.startsWith('*.')) return domain.endsWith(p.slice(1)) && domain.length > p.length - 1;
  return p === domain;
}

export type RouteChoice =
  | { readonly kind: 'direct' }
  | { readonly kind: 'relay'; readonly route: RelayRoute; readonly reason: string };

export function chooseRoute(
  routes: readonly RelayRoute[],
  domain: string,
  attemptsSoFar: number,
): RouteChoice {
  for (const route of routes) {
    if (route.domains.some((p) => matchesDomain(p, domain)))
      return { kind: 'relay', route, reason: 'configured for the domain' };
  }
  for (const route of routes) {
    if (route.fallbackAfterAttempts > 0 && attemptsSoFar >= route.fallbackAfterAttempts) {
      return { kind: 'relay', route, reason: `fallback after ${attemptsSoFar} failed attempts` };
    }
  }
  return { kind: 'direct' };
}

export function policyFallback(routes: readonly RelayRoute[]): RelayRoute | undefined {
  return routes.find((r) => r.fallbackOnPolicyBlock);
}

/**
 * True when a reply refuses the sending host itself (blocklists, reputation, missing
 * PTR, port 25 policy) rather than the recipient or the message.
 */
export function isPolicyBlock(reply: SmtpReply): boolean {
  if (
    reply.code < 500 &&
    reply.code !== 421 &&
    reply.code !== 450 &&
    reply.code !== 451 &&
    reply.code !== 454
  )
    return false;
  if (
    reply.enhanced === '5.7.1' ||
    reply.enhanced === '5.7.25' ||
    reply.enhanced === '5.7.27' ||
    reply.enhanced === '4.7.1'
  ) {
    return /block|listed|reputation|spamhaus|dnsbl|rbl|reverse|ptr|dynamic|residential|policy/i.test(
      reply.text,
    );
  }
  return /\b(blocked|blacklisted|blocklisted|listed at|spamhaus|dnsbl)\b/i.test(reply.text);
}

/** Built-in shaping used when no configured rule matches. */
export const DEFAULT_SHAPING: ShapingRule = Object.freeze({
  match: '*',
  maxConnections: 16,
  messagesPerConnection: 100,
  messagesPerMinute: 0,
  pauseAfterFailureMs: 30_000,
  pauseAfterDeliveries: 0,
  pauseMs: 0,
});

export function shapingFor(
  rules: readonly ShapingRule[],
  domain: string,
  mxHosts: readonly string[],
): ShapingRule {
  for (const rule of rules) {
    if (rule.match.startsWith('mx:')) {
      const pattern = rule.match.slice(3);
      if (mxHosts.some((h) => matchesDomain(pattern, h))) return rule;
    } else if (matchesDomain(rule.match, domain)) {
      return rule;
    }
  }
  return DEFAULT_SHAPING;
}
