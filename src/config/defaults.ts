/**
 * Default settings: what mxpress does when nothing says otherwise.
 *
 * Plain data, in the final units (ms, bytes). The host name and data directory
 * depend on the machine and the working directory, so build.ts fills those in, as
 * it does the event log's path (in the data directory). SMTP client timeouts have
 * their defaults in delivery/smtp-client/types.ts; the engine appends its built-in
 * `*` shaping rule after the configured ones.
 */
import type { AbuseConfig, DeliveryConfig, DnsConfig, HttpConfig, SmtpLimits } from './types.ts';

const MB = 1024 * 1024;
const MIN = 60_000;
const HOUR = 60 * MIN;

export const DEFAULT_DATA_DIR = './data';

export const DEFAULT_LISTENER = {
  address: '127.0.0.1',
  port: 2525,
  tls: 'starttls',
  deliveryMode: 'async',
  syncBudgetMs: 30_000,
  requireAuth: false,
} as const;

export const DEFAULT_LIMITS: SmtpLimits = {
  maxMessageSize: 50 * MB,
  maxRecipients: 1000,
  maxCommandLength: 2048,
  maxLineLength: 998,
  maxHeaderBytes: 1 * MB,
  maxConnections: 2000,
  maxConnectionsPerClient: 50,
  idleTimeoutMs: 5 * MIN,
  sessionTimeoutMs: 30 * MIN,
  maxErrors: 10,
  maxMessagesPerConnection: 1000,
  minFreeBytes: 64 * MB,
};

/**
 * Abuse controls: generous enough for real senders; trusted unauthenticated clients
 * (loopback injection, the benchmarks) are not rate-limited unless applyToTrusted.
 */
export const DEFAULT_ABUSE: AbuseConfig = {
  applyToTrusted: false,
  maxTrackedKeys: 100_000,
  auth: {
    maxFailuresPerIp: 5,
    maxFailuresPerUser: 10,
    failureWindowMs: 10 * MIN,
    lockoutMs: 15 * MIN,
    failureDelayMs: 500,
  },
  perIp: { messagesPerMinute: 600, recipientsPerMinute: 6000 },
  perUser: { messagesPerMinute: 600, recipientsPerMinute: 6000 },
  perSender: { messagesPerMinute: 600, recipientsPerMinute: 6000 },
  mailbombPerHour: 100,
};

export const DEFAULT_LINE_ENDINGS = 'reject';
export const DEFAULT_TRUSTED_NETWORKS: readonly string[] = ['127.0.0.0/8', '::1/128'];
export const DEFAULT_HTTP: HttpConfig = { address: '127.0.0.1', port: 8025, tokens: [] };
export const DEFAULT_DNS: DnsConfig = { servers: [], timeoutMs: 5000 };
export const DEFAULT_DELIVERY: DeliveryConfig = {
  mxPort: 25,
  retryIntervalsMs: [5 * MIN, 10 * MIN, 30 * MIN, HOUR, 2 * HOUR, 4 * HOUR, 8 * HOUR],
  maxQueueTimeMs: 5 * 24 * HOUR,
  shaping: [],
  routes: [],
  timeouts: {},
  idleConnectionMs: 10_000,
  delayWarningAfterMs: 0,
  ipv6: true,
  dkim: [],
  tls: [],
  mtaSts: true,
};

/** Values a shaping rule gets for the keys it leaves out. */
export const DEFAULT_SHAPING_RULE = {
  maxConnections: 16,
  messagesPerConnection: 100,
  messagesPerMinute: 0,
  pauseAfterFailureMs: 30_000,
  pauseAfterDeliveries: 0,
  pauseMs: 0,
} as const;

export const DEFAULT_ROUTE = {
  tls: 'starttls',
  fallbackAfterAttempts: 0,
  fallbackOnPolicyBlock: false,
} as const;

export const DEFAULT_SUPPRESSION = { enabled: true, ttlMs: 30 * 24 * HOUR } as const;
/** Finished messages, their attempts and events are kept this long, then purged. */
export const DEFAULT_RETENTION_MS = 7 * 24 * HOUR;
/** Events a webhook has not sent are kept at most this long (then it skips past them). */
export const DEFAULT_WEBHOOK_HOLD_MS = 30 * 24 * HOUR;
export const DEFAULT_EVENT_LOG = { enabled: true, file: 'events.log', maxBytes: 50 * MB, keep: 5 } as const;
export const DEFAULT_LOG_LEVEL = 'info';
