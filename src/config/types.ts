/**
 * The typed, frozen configuration every stage receives.
 *
 * Types only. config/schema.ts validates input against the same shape and
 * config/load.ts merges defaults < YAML file < MXPRESS_* environment < flags.
 * Durations are milliseconds and sizes bytes here; the loader accepts "5m",
 * "50MB" and similar.
 */
import type { LifecycleEventType } from '../contracts/events.ts';

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
  /** Envelope senders this user may use: domains (`example.com`) or addresses; absent means any. */
  readonly allowedSenders?: readonly string[];
}

/** Per-minute limits for one kind of key; 0 means unlimited. */
export interface RateLimits {
  readonly messagesPerMinute: number;
  readonly recipientsPerMinute: number;
}

/** Abuse controls of the SMTP server (ingress/abuse/). */
export interface AbuseConfig {
  /** Apply the rate limits to unauthenticated clients from trusted networks too (default false). */
  readonly applyToTrusted: boolean;
  /** Keys (IPs, users, senders) each limiter remembers at most; least recently used go first. */
  readonly maxTrackedKeys: number;
  readonly auth: {
    /** Failed AUTH attempts from one IP within `failureWindowMs` that lock it out (0 = never). */
    readonly maxFailuresPerIp: number;
    /** Failed AUTH attempts for one user name within the window that lock the name out (0 = never). */
    readonly maxFailuresPerUser: number;
    readonly failureWindowMs: number;
    readonly lockoutMs: number;
    /** Pause before answering a failed AUTH. */
    readonly failureDelayMs: number;
  };
  readonly perIp: RateLimits;
  readonly perUser: RateLimits;
  readonly perSender: RateLimits;
  /** Messages from one sender to one recipient per hour (0 = unlimited). */
  readonly mailbombPerHour: number;
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
  readonly abuse: AbuseConfig;
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

/** Per-destination shaping; a destination is the set of MX hosts serving a domain. */
export interface ShapingRule {
  /** Domain pattern (`example.com`, `*.example.com`) or MX pattern (`mx:*.google.com`); `*` matches all. */
  readonly match: string;
  readonly maxConnections: number;
  readonly messagesPerConnection: number;
  /** 0 means unlimited. */
  readonly messagesPerMinute: number;
  /** How long the destination rests after a temporary failure of the site (ms). */
  readonly pauseAfterFailureMs: number;
  /** After this many consecutive deliveries, rest for `pauseMs` (0 = never). */
  readonly pauseAfterDeliveries: number;
  readonly pauseMs: number;
}

/** A smarthost route: deliver through a relay instead of the recipient's MX. */
export interface RelayRoute {
  readonly name: string;
  readonly host: string;
  readonly port: number;
  /** `starttls` requires STARTTLS, `implicit` is TLS from the first byte, `none` plaintext, `may` opportunistic. */
  readonly tls: 'none' | 'may' | 'starttls' | 'implicit';
  readonly auth?: { readonly username: string; readonly password: string };
  /** Domains (patterns as in ShapingRule.match) always routed here; `*` makes it the default route. */
  readonly domains: readonly string[];
  /** Use as fallback for direct delivery after this many failed attempts (0 = not a fallback). */
  readonly fallbackAfterAttempts: number;
  /** Use as fallback at once when a destination refuses our host by policy (5.7.x blocks). */
  readonly fallbackOnPolicyBlock: boolean;
}

/** Outbound TLS for direct delivery: `none` never, `may` when offered, `encrypt` required, `verify` required and valid for the MX name. */
export interface TlsRule {
  /** Domain pattern (`example.com`, `*.example.com`, `*`) or MX pattern (`mx:*.google.com`). */
  readonly match: string;
  readonly policy: 'none' | 'may' | 'encrypt' | 'verify';
}

/**
 * SMTP client timeouts in ms, as set in the file; a missing key keeps the client's
 * default (RFC 5321 4.5.3.2 values, delivery/smtp-client/types.ts DEFAULT_TIMEOUTS).
 */
export interface ClientTimeoutSettings {
  readonly connectMs?: number;
  readonly greetingMs?: number;
  readonly ehloMs?: number;
  readonly mailMs?: number;
  readonly rcptMs?: number;
  readonly dataInitMs?: number;
  readonly dataBlockMs?: number;
  readonly dataTermMs?: number;
  readonly starttlsMs?: number;
  readonly idleMs?: number;
}

export interface DkimKeyConfig {
  readonly domain: string;
  readonly selector: string;
  /** Absolute path of a PEM private key (RSA >= 1024 bits or Ed25519), checked at load. */
  readonly privateKeyFile: string;
}

export interface DeliveryConfig {
  /** Port used for MX hosts (25; tests use others). */
  readonly mxPort: number;
  readonly retryIntervalsMs: readonly number[];
  readonly maxQueueTimeMs: number;
  /** Configured shaping rules, first match wins; the engine appends a built-in `*` rule. */
  readonly shaping: readonly ShapingRule[];
  readonly routes: readonly RelayRoute[];
  /** SMTP client timeouts; only the ones set in the file. */
  readonly timeouts: ClientTimeoutSettings;
  /** Close pooled connections idle this long (ms). */
  readonly idleConnectionMs: number;
  /** Send a delay warning (Action: delayed) once a recipient has waited this long (0 = never). */
  readonly delayWarningAfterMs: number;
  /** Try IPv6 addresses of MX hosts (first) as well as IPv4. */
  readonly ipv6: boolean;
  /** DKIM keys; several keys for one domain all sign. */
  readonly dkim: readonly DkimKeyConfig[];
  /** TLS policy rules for direct delivery, first match wins; `may` when none matches. */
  readonly tls: readonly TlsRule[];
  /** Look up and apply recipient domains' MTA-STS policies (RFC 8461). */
  readonly mtaSts: boolean;
}

export interface WebhookConfig {
  readonly url: string;
  /** Standard Webhooks secret (`whsec_` + base64), used for HMAC-SHA256 signatures. */
  readonly secret: string;
  /** Lifecycle event types to send; all when absent. */
  readonly events?: readonly LifecycleEventType[];
}

/** A classification override: first match wins, before the built-in rules. */
export interface ClassificationRule {
  /** Regular expression over the reply text (case-insensitive). */
  readonly text?: string;
  /** Enhanced status code prefix, e.g. `5.7.1` or `4.7`. */
  readonly enhanced?: string;
  /** Reply code prefix, e.g. `550` or `4`. */
  readonly code?: string;
  /** Local error code, e.g. `ECONNREFUSED`. */
  readonly errorCode?: string;
  readonly severity: 'hard' | 'soft';
  readonly category: string;
}

export interface FeedbackConfig {
  readonly webhooks: readonly WebhookConfig[];
  /**
   * How long the history of finished messages (recipients, attempts) and stored
   * events is kept before it is purged from the spool; 0 keeps it forever.
   */
  readonly retentionMs: number;
  /**
   * Events a webhook has not sent yet outlive the retention until it has, but never
   * by more than this after they were stored (0: no limit).
   */
  readonly webhookHoldMs: number;
  /** Hard bounces add the address to the suppression list for `ttlMs` (0 = forever). */
  readonly suppression: { readonly enabled: boolean; readonly ttlMs: number };
  /** One JSON line per event; rotated at `maxBytes`, keeping `keep` old files. */
  readonly eventLog: {
    readonly enabled: boolean;
    readonly path: string;
    readonly maxBytes: number;
    readonly keep: number;
  };
  readonly classification: readonly ClassificationRule[];
}

export interface Config {
  /** Name used in EHLO, the banner, Received headers and Message-IDs we add. */
  readonly hostname: string;
  readonly dataDir: string;
  readonly smtp: SmtpConfig;
  readonly http: HttpConfig;
  readonly dns: DnsConfig;
  readonly delivery: DeliveryConfig;
  /** Webhooks, suppression, event log and classification. */
  readonly feedback: FeedbackConfig;
  readonly log: { readonly level: 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'silent' };
}
