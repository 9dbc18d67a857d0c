/**
 * Renders a `Config` back into the config file's own YAML form.
 *
 * Key names, durations (`5m`) and sizes (`50MB`) come out as an operator writes
 * them, so the output of `mxpress config check` can be saved as a config file and
 * loads to the same Config (render.test.ts checks the round trip). With `redact`,
 * password hashes, HTTP tokens, relay passwords and webhook secrets are replaced
 * by `[redacted]`; the loader refuses that placeholder, so the redacted form does
 * not load, on purpose. Pure; never throws for a valid Config.
 */
import { stringify } from 'yaml';
import { REDACTED } from './fields.ts';
import { TIMEOUT_KEYS } from './schema-delivery.ts';
import type {
  AbuseConfig,
  Config,
  DeliveryConfig,
  FeedbackConfig,
  RelayRoute,
  SmtpListenerConfig,
} from './types.ts';
import { formatDuration, formatSize } from './units.ts';

export { REDACTED } from './fields.ts';

type Redact = (secret: string) => string;

function size(bytes: number): string | number {
  const text = formatSize(bytes);
  return /^\d+$/.test(text) ? bytes : text;
}

function listener(l: SmtpListenerConfig): Record<string, unknown> {
  return {
    name: l.name,
    address: l.address,
    port: l.port,
    tls: l.tls,
    deliveryMode: l.deliveryMode,
    syncBudget: formatDuration(l.syncBudgetMs),
    requireAuth: l.requireAuth,
  };
}

function route(r: RelayRoute, secret: Redact): Record<string, unknown> {
  return {
    name: r.name,
    host: r.host,
    port: r.port,
    tls: r.tls,
    ...(r.auth === undefined
      ? {}
      : { auth: { username: r.auth.username, password: secret(r.auth.password) } }),
    domains: [...r.domains],
    fallbackAfterAttempts: r.fallbackAfterAttempts,
    fallbackOnPolicyBlock: r.fallbackOnPolicyBlock,
  };
}

function delivery(d: DeliveryConfig, secret: Redact): Record<string, unknown> {
  const timeouts: Record<string, string> = {};
  for (const [yamlKey, typedKey] of Object.entries(TIMEOUT_KEYS)) {
    const ms = d.timeouts[typedKey];
    if (ms !== undefined) timeouts[yamlKey] = formatDuration(ms);
  }
  return {
    mxPort: d.mxPort,
    retryIntervals: d.retryIntervalsMs.map(formatDuration),
    maxQueueTime: formatDuration(d.maxQueueTimeMs),
    shaping: d.shaping.map((s) => ({
      match: s.match,
      maxConnections: s.maxConnections,
      messagesPerConnection: s.messagesPerConnection,
      messagesPerMinute: s.messagesPerMinute,
      pauseAfterFailure: formatDuration(s.pauseAfterFailureMs),
      pauseAfterDeliveries: s.pauseAfterDeliveries,
      pause: formatDuration(s.pauseMs),
    })),
    routes: d.routes.map((r) => route(r, secret)),
    timeouts,
    idleConnection: formatDuration(d.idleConnectionMs),
    delayWarningAfter: formatDuration(d.delayWarningAfterMs),
    ipv6: d.ipv6,
    dkim: d.dkim.map((k) => ({ domain: k.domain, selector: k.selector, privateKeyFile: k.privateKeyFile })),
    tls: d.tls.map((r) => ({ match: r.match, policy: r.policy })),
    mtaSts: d.mtaSts,
  };
}

function feedback(f: FeedbackConfig, secret: Redact): Record<string, unknown> {
  return {
    webhooks: f.webhooks.map((w) => ({
      url: w.url,
      secret: secret(w.secret),
      ...(w.events === undefined ? {} : { events: [...w.events] }),
    })),
    retention: formatDuration(f.retentionMs),
    webhookHold: formatDuration(f.webhookHoldMs),
    suppression: { enabled: f.suppression.enabled, ttl: formatDuration(f.suppression.ttlMs) },
    eventLog: {
      enabled: f.eventLog.enabled,
      path: f.eventLog.path,
      maxBytes: size(f.eventLog.maxBytes),
      keep: f.eventLog.keep,
    },
    classification: f.classification.map((c) => ({ ...c })),
  };
}

/** The user-facing document (plain data) for `config`. */
function abuse(a: AbuseConfig): Record<string, unknown> {
  return {
    applyToTrusted: a.applyToTrusted,
    maxTrackedKeys: a.maxTrackedKeys,
    auth: {
      maxFailuresPerIp: a.auth.maxFailuresPerIp,
      maxFailuresPerUser: a.auth.maxFailuresPerUser,
      failureWindow: formatDuration(a.auth.failureWindowMs),
      lockout: formatDuration(a.auth.lockoutMs),
      failureDelay: formatDuration(a.auth.failureDelayMs),
    },
    perIp: { ...a.perIp },
    perUser: { ...a.perUser },
    perSender: { ...a.perSender },
    mailbombPerHour: a.mailbombPerHour,
  };
}

export function configToDocument(config: Config, options: { redact: boolean }): Record<string, unknown> {
  const secret = (value: string): string => (options.redact ? REDACTED : value);
  const { limits } = config.smtp;
  const tls: Record<string, string> = {};
  if (config.smtp.tls.certFile !== undefined) tls.cert = config.smtp.tls.certFile;
  if (config.smtp.tls.keyFile !== undefined) tls.key = config.smtp.tls.keyFile;
  return {
    hostname: config.hostname,
    dataDir: config.dataDir,
    smtp: {
      listeners: config.smtp.listeners.map(listener),
      limits: {
        maxMessageSize: size(limits.maxMessageSize),
        maxRecipients: limits.maxRecipients,
        maxCommandLength: limits.maxCommandLength,
        maxLineLength: limits.maxLineLength,
        maxHeaderBytes: size(limits.maxHeaderBytes),
        maxConnections: limits.maxConnections,
        maxConnectionsPerClient: limits.maxConnectionsPerClient,
        idleTimeout: formatDuration(limits.idleTimeoutMs),
        sessionTimeout: formatDuration(limits.sessionTimeoutMs),
        maxErrors: limits.maxErrors,
        maxMessagesPerConnection: limits.maxMessagesPerConnection,
        minFreeBytes: size(limits.minFreeBytes),
      },
      lineEndings: config.smtp.lineEndings,
      tls,
      users: config.smtp.users.map((u) => ({
        username: u.username,
        passwordHash: secret(u.passwordHash),
        ...(u.allowedSenders === undefined ? {} : { allowedSenders: [...u.allowedSenders] }),
      })),
      trustedNetworks: [...config.smtp.trustedNetworks],
      abuse: abuse(config.smtp.abuse),
    },
    http: { address: config.http.address, port: config.http.port, tokens: config.http.tokens.map(secret) },
    dns: { servers: [...config.dns.servers], timeout: formatDuration(config.dns.timeoutMs) },
    delivery: delivery(config.delivery, secret),
    feedback: feedback(config.feedback, secret),
    log: { level: config.log.level },
  };
}

export function renderConfigYaml(config: Config, options: { redact: boolean }): string {
  return stringify(configToDocument(config, options), { lineWidth: 0, flowCollectionPadding: false });
}
