/**
 * Renders a `Config` back into the config file's own YAML form.
 *
 * Key names, durations (`5m`) and sizes (`50MB`) come out as an operator writes
 * them, so the output of `mxpress config check` can be saved as a config file and
 * loads to the same Config (load.test.ts checks the round trip). With `redact`,
 * password hashes and HTTP tokens are replaced by `[redacted]`; the redacted form
 * no longer loads, on purpose. Pure; never throws for a valid Config.
 */
import { stringify } from 'yaml';
import type { Config, SmtpListenerConfig } from './types.ts';
import { formatDuration, formatSize } from './units.ts';

export const REDACTED = '[redacted]';

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

/** The user-facing document (plain data) for `config`. */
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
      users: config.smtp.users.map((u) => ({ username: u.username, passwordHash: secret(u.passwordHash) })),
      trustedNetworks: [...config.smtp.trustedNetworks],
    },
    http: { address: config.http.address, port: config.http.port, tokens: config.http.tokens.map(secret) },
    dns: { servers: [...config.dns.servers], timeout: formatDuration(config.dns.timeoutMs) },
    delivery: {
      mxPort: config.delivery.mxPort,
      retryIntervals: config.delivery.retryIntervalsMs.map(formatDuration),
      maxQueueTime: formatDuration(config.delivery.maxQueueTimeMs),
    },
    log: { level: config.log.level },
  };
}

export function renderConfigYaml(config: Config, options: { redact: boolean }): string {
  return stringify(configToDocument(config, options), { lineWidth: 0, flowCollectionPadding: false });
}
