/**
 * The typed, frozen configuration every stage receives.
 *
 * Types only. config/schema.ts validates input against the same shape and
 * config/load.ts merges defaults < YAML file < MXPRESS_* environment < flags.
 * Durations are milliseconds and sizes bytes here; the loader accepts "5m",
 * "50MB" and similar.
 */

export type DeliveryMode = 'async' | 'sync';
export type ListenerTls = 'starttls' | 'implicit' | 'none';
export type LineEndingPolicy = 'reject' | 'normalize';

export interface SmtpListenerConfig {
  /** `address:port`, unique; used in logs, the Received header and metrics. */
  readonly name: string;
  readonly address: string;
  readonly port: number;
  /** `starttls` offers STARTTLS (default), `implicit` is TLS from the first byte (port 465 style). */
  readonly tls: ListenerTls;
  /** `sync` holds the DATA reply while mxpress delivers (up to syncBudgetMs). */
  readonly deliveryMode: DeliveryMode;
  readonly syncBudgetMs: number;
  /** Require AUTH before MAIL even from trusted networks (submission-port style). */
  readonly requireAuth: boolean;
}

export interface SmtpLimits {
  readonly maxMessageSize: number;
  readonly maxRecipients: number;
  /** Command line length limit in octets excluding CRLF (RFC 5321 minimum 512; ESMTP params need more). */
  readonly maxCommandLength: number;
  /** DATA line length limit in octets excluding CRLF (RFC 5322: 998). */
  readonly maxLineLength: number;
  readonly maxHeaderBytes: number;
  readonly maxConnections: number;
  readonly maxConnectionsPerClient: number;
  /** Idle time allowed between commands (and between data packets). */
  readonly idleTimeoutMs: number;
  /** Whole-session limit. */
  readonly sessionTimeoutMs: number;
  /** Protocol errors after which the session is closed with 421. */
  readonly maxErrors: number;
  /** Transactions (messages) per connection. */
  readonly maxMessagesPerConnection: number;
  /** Refuse mail when the spool's disk has less than this many bytes free beyond the message. */
  readonly minFreeBytes: number;
}

export interface SmtpUser {
  readonly username: string;
  /** `scrypt$N$r$p$salt$hash` (base64 salt and hash), made by `mxpress hash-password`. */
  readonly passwordHash: string;
}

export interface SmtpConfig {
  readonly listeners: readonly SmtpListenerConfig[];
  readonly limits: SmtpLimits;
  readonly lineEndings: LineEndingPolicy;
  /** PEM files; when absent a self-signed certificate is made in the data dir on first start. */
  readonly tls: { readonly certFile?: string; readonly keyFile?: string };
  readonly users: readonly SmtpUser[];
  /** CIDRs whose clients may relay without AUTH. Default loopback only. */
  readonly trustedNetworks: readonly string[];
}

export interface HttpConfig {
  readonly address: string;
  readonly port: number;
  /** Hashed bearer tokens accepted from non-loopback clients. */
  readonly tokens: readonly string[];
}

export interface DnsConfig {
  /** `ip` or `ip:port` / `[v6]:port`; empty means the system's resolvers (/etc/resolv.conf). */
  readonly servers: readonly string[];
  readonly timeoutMs: number;
}

export interface DeliveryConfig {
  /** Port used for MX hosts (25; tests use others). */
  readonly mxPort: number;
  readonly retryIntervalsMs: readonly number[];
  readonly maxQueueTimeMs: number;
}

export interface Config {
  /** Name used in EHLO, the banner, Received headers and Message-IDs we add. */
  readonly hostname: string;
  readonly dataDir: string;
  readonly smtp: SmtpConfig;
  readonly http: HttpConfig;
  readonly dns: DnsConfig;
  readonly delivery: DeliveryConfig;
  readonly log: { readonly level: 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'silent' };
}
