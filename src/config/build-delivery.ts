/**
 * Fills the `delivery` section of the Config from the validated file layer and the
 * environment/flag overrides.
 *
 * Applies defaults (defaults.ts), maps the file's key names to the typed shape
 * (`pauseAfterFailure` -> `pauseAfterFailureMs`, `timeouts.connect` -> `connectMs`),
 * resolves DKIM key paths against the config file's directory and checks the rules
 * spanning several keys: shaping rules that could never match or whose pause
 * settings do nothing, relay route names unique, routes that would never be used,
 * credentials over plaintext to a remote address, DKIM domain+selector pairs unique,
 * a delay warning later than the queue lifetime. Problems are appended to `issues`
 * (key path, problem, origin); nothing is thrown and no files are read here.
 */
import { resolve } from 'node:path';
import { cidrContains, parseIp } from './cidr.ts';
import { DEFAULT_DELIVERY, DEFAULT_ROUTE, DEFAULT_SHAPING_RULE } from './defaults.ts';
import type { ConfigIssue } from './errors.ts';
import type { OverrideLayer } from './overrides.ts';
import type { FileLayer } from './schema.ts';
import { TIMEOUT_KEYS, type TimeoutYamlKey } from './schema-delivery.ts';
import type { ClientTimeoutSettings, DeliveryConfig, RelayRoute, ShapingRule, TlsRule } from './types.ts';
import { formatDuration } from './units.ts';

type FileDelivery = NonNullable<FileLayer['delivery']>;

export interface DeliveryContext {
  /** Directory relative paths in the file resolve against. */
  readonly fileBase: string;
  /** The file's path, for messages ('default' without a file). */
  readonly origin: string;
}

const LOOPBACK = ['127.0.0.0/8', '::1/128'];

function buildShaping(given: FileDelivery['shaping'], ctx: DeliveryContext, issues: ConfigIssue[]) {
  const rules: ShapingRule[] = [];
  let catchAll: number | undefined;
  (given ?? []).forEach((r, i) => {
    const key = `delivery.shaping[${i}]`;
    const rule: ShapingRule = {
      match: r.match,
      maxConnections: r.maxConnections ?? DEFAULT_SHAPING_RULE.maxConnections,
      messagesPerConnection: r.messagesPerConnection ?? DEFAULT_SHAPING_RULE.messagesPerConnection,
      messagesPerMinute: r.messagesPerMinute ?? DEFAULT_SHAPING_RULE.messagesPerMinute,
      pauseAfterFailureMs: r.pauseAfterFailure ?? DEFAULT_SHAPING_RULE.pauseAfterFailureMs,
      pauseAfterDeliveries: r.pauseAfterDeliveries ?? DEFAULT_SHAPING_RULE.pauseAfterDeliveries,
      pauseMs: r.pause ?? DEFAULT_SHAPING_RULE.pauseMs,
    };
    const same = rules.findIndex((earlier) => earlier.match === rule.match);
    if (catchAll !== undefined) {
      issues.push({
        key: `${key}.match`,
        problem: `can never match: delivery.shaping[${catchAll}] matches every domain first`,
        origin: ctx.origin,
      });
    } else if (same >= 0) {
      issues.push({
        key: `${key}.match`,
        problem: `"${rule.match}" is already matched by delivery.shaping[${same}]`,
        origin: ctx.origin,
      });
    }
    if (rule.match === '*') catchAll ??= i;
    if (rule.pauseAfterDeliveries > 0 !== rule.pauseMs > 0) {
      issues.push({
        key: rule.pauseMs > 0 ? `${key}.pause` : `${key}.pauseAfterDeliveries`,
        problem: 'does nothing unless pauseAfterDeliveries and pause are both set above zero',
        origin: ctx.origin,
      });
    }
    rules.push(rule);
  });
  return rules;
}

function buildRoutes(given: FileDelivery['routes'], ctx: DeliveryContext, issues: ConfigIssue[]) {
  const routes: RelayRoute[] = [];
  const names = new Map<string, number>();
  (given ?? []).forEach((r, i) => {
    const key = `delivery.routes[${i}]`;
    const route: RelayRoute = {
      name: r.name,
      host: r.host,
      port: r.port,
      tls: r.tls ?? DEFAULT_ROUTE.tls,
      ...(r.auth === undefined ? {} : { auth: { username: r.auth.username, password: r.auth.password } }),
      domains: r.domains ?? [],
      fallbackAfterAttempts: r.fallbackAfterAttempts ?? DEFAULT_ROUTE.fallbackAfterAttempts,
      fallbackOnPolicyBlock: r.fallbackOnPolicyBlock ?? DEFAULT_ROUTE.fallbackOnPolicyBlock,
    };
    const earlier = names.get(route.name);
    if (earlier !== undefined) {
      issues.push({
        key: `${key}.name`,
        problem: `"${route.name}" is already the name of delivery.routes[${earlier}]`,
        origin: ctx.origin,
      });
    } else {
      names.set(route.name, i);
    }
    if (route.domains.length === 0 && route.fallbackAfterAttempts === 0 && !route.fallbackOnPolicyBlock) {
      issues.push({
        key,
        problem: 'would never be used: give it domains, fallbackAfterAttempts or fallbackOnPolicyBlock: true',
        origin: ctx.origin,
      });
    }
    // The client sends credentials only over TLS or to a loopback address.
    if (route.auth !== undefined && route.tls === 'none' && !isLoopbackOrName(route.host)) {
      issues.push({
        key: `${key}.tls`,
        problem: `is "none", so the password could not be sent to ${route.host}; use starttls or implicit`,
        origin: ctx.origin,
      });
    }
    routes.push(route);
  });
  return routes;
}

/** True for loopback IP literals and for host names (what they resolve to is not known here). */
function isLoopbackOrName(host: string): boolean {
  return parseIp(host) === undefined || cidrContains(LOOPBACK, host);
}

function buildTimeouts(given: FileDelivery['timeouts']): ClientTimeoutSettings {
  const out: Record<string, number> = {};
  for (const [yamlKey, value] of Object.entries(given ?? {})) {
    if (value !== undefined) out[TIMEOUT_KEYS[yamlKey as TimeoutYamlKey]] = value;
  }
  return out;
}

function buildDkim(given: FileDelivery['dkim'], ctx: DeliveryContext, issues: ConfigIssue[]) {
  const seen = new Map<string, number>();
  return (given ?? []).map((k, i) => {
    const pair = `${k.selector.toLowerCase()}._domainkey.${k.domain}`;
    const earlier = seen.get(pair);
    if (earlier !== undefined) {
      issues.push({
        key: `delivery.dkim[${i}]`,
        problem: `${pair} is already configured by delivery.dkim[${earlier}]`,
        origin: ctx.origin,
      });
    }
    seen.set(pair, i);
    return {
      domain: k.domain,
      selector: k.selector,
      privateKeyFile: resolve(ctx.fileBase, k.privateKeyFile),
    };
  });
}

/** Outbound TLS rules in file order; a rule after a `*` rule or repeating a pattern never applies. */
function buildTlsRules(given: FileDelivery['tls'], ctx: DeliveryContext, issues: ConfigIssue[]): TlsRule[] {
  const rules: TlsRule[] = [];
  (given ?? []).forEach((r, i) => {
    const earlier = rules.findIndex((e) => e.match === r.match || e.match === '*');
    if (earlier >= 0) {
      issues.push({
        key: `delivery.tls[${i}].match`,
        problem: `can never match: delivery.tls[${earlier}] ("${rules[earlier]?.match}") matches first`,
        origin: ctx.origin,
      });
    }
    rules.push({ match: r.match, policy: r.policy });
  });
  return rules;
}

export function buildDelivery(
  file: FileLayer['delivery'],
  over: OverrideLayer,
  ctx: DeliveryContext,
  issues: ConfigIssue[],
): DeliveryConfig {
  const d = file ?? {};
  const delivery: DeliveryConfig = {
    mxPort: over.mxPort ?? d.mxPort ?? DEFAULT_DELIVERY.mxPort,
    retryIntervalsMs: over.retryIntervalsMs ?? d.retryIntervals ?? DEFAULT_DELIVERY.retryIntervalsMs,
    maxQueueTimeMs: over.maxQueueTimeMs ?? d.maxQueueTime ?? DEFAULT_DELIVERY.maxQueueTimeMs,
    shaping: buildShaping(d.shaping, ctx, issues),
    routes: buildRoutes(d.routes, ctx, issues),
    timeouts: buildTimeouts(d.timeouts),
    idleConnectionMs: d.idleConnection ?? DEFAULT_DELIVERY.idleConnectionMs,
    delayWarningAfterMs: d.delayWarningAfter ?? DEFAULT_DELIVERY.delayWarningAfterMs,
    ipv6: d.ipv6 ?? DEFAULT_DELIVERY.ipv6,
    dkim: buildDkim(d.dkim, ctx, issues),
    tls: buildTlsRules(d.tls, ctx, issues),
    mtaSts: d.mtaSts ?? DEFAULT_DELIVERY.mtaSts,
  };
  if (delivery.delayWarningAfterMs > 0 && delivery.delayWarningAfterMs >= delivery.maxQueueTimeMs) {
    issues.push({
      key: 'delivery.delayWarningAfter',
      problem: `${formatDuration(delivery.delayWarningAfterMs)} is not less than the queue lifetime (maxQueueTime ${formatDuration(delivery.maxQueueTimeMs)}), so no warning would be sent; use 0 for none`,
      origin: ctx.origin,
    });
  }
  return delivery;
}
