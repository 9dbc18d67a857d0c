/**
 * Merges defaults < config file < environment < flags into one frozen `Config`.
 *
 * Inputs are already-validated layers (schema.ts, overrides.ts); this applies the
 * precedence rules, fills defaults, resolves the file's relative paths against the
 * file's directory, checks the rules that span several keys (unique listeners, TLS
 * cert and key together, users unique, per-client connections within the total, a
 * requireAuth listener needs users; build-delivery.ts and build-feedback.ts do the
 * same for their sections) and deep-freezes the result. Throws `ConfigError`
 * naming the keys involved.
 */
import { dirname, resolve } from 'node:path';
import { buildAbuse } from './build-abuse.ts';
import { buildDelivery } from './build-delivery.ts';
import { buildFeedback } from './build-feedback.ts';
import {
  DEFAULT_DATA_DIR,
  DEFAULT_DNS,
  DEFAULT_HTTP,
  DEFAULT_LIMITS,
  DEFAULT_LINE_ENDINGS,
  DEFAULT_LISTENER,
  DEFAULT_LOG_LEVEL,
  DEFAULT_TRUSTED_NETWORKS,
} from './defaults.ts';
import { ConfigError, type ConfigIssue, FieldProblem } from './errors.ts';
import { formatHostPort, parseHostname } from './fields.ts';
import type { OverrideLayer } from './overrides.ts';
import type { FileLayer, FileListener } from './schema.ts';
import type { Config, SmtpLimits, SmtpListenerConfig } from './types.ts';

export interface BuildInput {
  readonly cwd: string;
  /** What the system calls this machine (os.hostname()); validated only if used. */
  readonly systemHostname: string;
  readonly file?: { readonly layer: FileLayer; readonly path: string };
  readonly env: OverrideLayer;
  readonly flags: OverrideLayer;
}

interface PlacedListener {
  readonly listener: SmtpListenerConfig;
  /** Where it was defined, for messages: `smtp.listeners[1]`, `--smtp`, `MXPRESS_SMTP`. */
  readonly key: string;
  readonly origin: string;
}

function fillListener(spec: FileListener | { address: string; port: number }): SmtpListenerConfig {
  const given = spec as Partial<FileListener> & { address: string; port: number };
  return {
    name: given.name ?? formatHostPort(given.address, given.port),
    address: given.address,
    port: given.port,
    tls: given.tls ?? DEFAULT_LISTENER.tls,
    deliveryMode: given.deliveryMode ?? DEFAULT_LISTENER.deliveryMode,
    syncBudgetMs: given.syncBudget ?? DEFAULT_LISTENER.syncBudgetMs,
    requireAuth: given.requireAuth ?? DEFAULT_LISTENER.requireAuth,
  };
}

function placeListeners(input: BuildInput): PlacedListener[] {
  const placed: PlacedListener[] = [];
  const fromFile = input.file?.layer.smtp?.listeners ?? [];
  fromFile.forEach((spec, i) => {
    placed.push({
      listener: fillListener(spec),
      key: `smtp.listeners[${i}]`,
      origin: input.file?.path ?? '',
    });
  });
  const extra = input.flags.listeners ?? input.env.listeners;
  const extraKey = input.flags.listeners === undefined ? 'MXPRESS_SMTP' : '--smtp';
  const extraOrigin = input.flags.listeners === undefined ? 'environment' : 'command line';
  for (const hostPort of extra ?? []) {
    placed.push({ listener: fillListener(hostPort), key: extraKey, origin: extraOrigin });
  }
  if (placed.length === 0) {
    placed.push({ listener: fillListener(DEFAULT_LISTENER), key: 'smtp.listeners', origin: 'default' });
  }
  return placed;
}

function checkListeners(placed: readonly PlacedListener[], issues: ConfigIssue[]): void {
  const names = new Map<string, PlacedListener>();
  const endpoints = new Map<string, PlacedListener>();
  for (const p of placed) {
    const where = (other: PlacedListener): string => `${other.key} (from ${other.origin})`;
    const sameName = names.get(p.listener.name);
    if (sameName !== undefined) {
      issues.push({
        key: p.key,
        problem: `listener name "${p.listener.name}" is already used by ${where(sameName)}; give one a different name`,
        origin: p.origin,
      });
    }
    names.set(p.listener.name, p);
    const endpoint = formatHostPort(p.listener.address, p.listener.port);
    const sameEndpoint = endpoints.get(endpoint);
    if (p.listener.port !== 0 && sameEndpoint !== undefined && sameName === undefined) {
      issues.push({
        key: p.key,
        problem: `${endpoint} is already a listener at ${where(sameEndpoint)}`,
        origin: p.origin,
      });
    }
    endpoints.set(endpoint, p);
  }
}

function buildLimits(file: FileLayer['smtp'], origin: string, issues: ConfigIssue[]): SmtpLimits {
  const l = file?.limits ?? {};
  const limits: SmtpLimits = {
    maxMessageSize: l.maxMessageSize ?? DEFAULT_LIMITS.maxMessageSize,
    maxRecipients: l.maxRecipients ?? DEFAULT_LIMITS.maxRecipients,
    maxCommandLength: l.maxCommandLength ?? DEFAULT_LIMITS.maxCommandLength,
    maxLineLength: l.maxLineLength ?? DEFAULT_LIMITS.maxLineLength,
    maxHeaderBytes: l.maxHeaderBytes ?? DEFAULT_LIMITS.maxHeaderBytes,
    maxConnections: l.maxConnections ?? DEFAULT_LIMITS.maxConnections,
    maxConnectionsPerClient: l.maxConnectionsPerClient ?? DEFAULT_LIMITS.maxConnectionsPerClient,
    idleTimeoutMs: l.idleTimeout ?? DEFAULT_LIMITS.idleTimeoutMs,
    sessionTimeoutMs: l.sessionTimeout ?? DEFAULT_LIMITS.sessionTimeoutMs,
    maxErrors: l.maxErrors ?? DEFAULT_LIMITS.maxErrors,
    maxMessagesPerConnection: l.maxMessagesPerConnection ?? DEFAULT_LIMITS.maxMessagesPerConnection,
    minFreeBytes: l.minFreeBytes ?? DEFAULT_LIMITS.minFreeBytes,
  };
  if (limits.maxConnectionsPerClient > limits.maxConnections) {
    issues.push({
      key: 'smtp.limits.maxConnectionsPerClient',
      problem: `${limits.maxConnectionsPerClient} is more than smtp.limits.maxConnections (${limits.maxConnections})`,
      origin,
    });
  }
  if (limits.maxHeaderBytes > limits.maxMessageSize) {
    issues.push({
      key: 'smtp.limits.maxHeaderBytes',
      problem: `${limits.maxHeaderBytes} is more than smtp.limits.maxMessageSize (${limits.maxMessageSize})`,
      origin,
    });
  }
  return limits;
}

function pickHostname(input: BuildInput, issues: ConfigIssue[]): string {
  const given = input.flags.hostname ?? input.env.hostname ?? input.file?.layer.hostname;
  if (given !== undefined) return given;
  try {
    return parseHostname(input.systemHostname);
  } catch (error) {
    if (!(error instanceof FieldProblem)) throw error;
    issues.push({
      key: 'hostname',
      problem: `the system host name is not usable (${error.message}); set hostname in the config file or --hostname`,
      origin: 'os.hostname()',
    });
    return 'localhost';
  }
}

export function buildConfig(input: BuildInput): Config {
  const issues: ConfigIssue[] = [];
  const file = input.file?.layer ?? {};
  const fileOrigin = input.file?.path ?? 'default';
  const fileBase = input.file === undefined ? input.cwd : dirname(input.file.path);
  const over: OverrideLayer = { ...input.env, ...definedOnly(input.flags) };

  const placed = placeListeners(input);
  checkListeners(placed, issues);
  const limits = buildLimits(file.smtp, fileOrigin, issues);

  const tlsIn = file.smtp?.tls ?? {};
  if ((tlsIn.cert === undefined) !== (tlsIn.key === undefined)) {
    issues.push({
      key: 'smtp.tls',
      problem: 'give both cert and key, or neither (a self-signed pair is made)',
      origin: fileOrigin,
    });
  }
  const tls = {
    ...(tlsIn.cert === undefined ? {} : { certFile: resolve(fileBase, tlsIn.cert) }),
    ...(tlsIn.key === undefined ? {} : { keyFile: resolve(fileBase, tlsIn.key) }),
  };

  const users = file.smtp?.users ?? [];
  const seenUsers = new Set<string>();
  users.forEach((u, i) => {
    if (seenUsers.has(u.username)) {
      issues.push({
        key: `smtp.users[${i}].username`,
        problem: `"${u.username}" is listed twice`,
        origin: fileOrigin,
      });
    }
    seenUsers.add(u.username);
  });
  for (const p of placed) {
    if (p.listener.requireAuth && users.length === 0) {
      issues.push({
        key: `${p.key}.requireAuth`,
        problem: 'is true but smtp.users is empty, so nobody could send; add users (mxpress hash-password)',
        origin: p.origin,
      });
    }
  }

  const hostname = pickHostname(input, issues);
  const dataDir =
    over.dataDir ??
    (file.dataDir === undefined ? resolve(input.cwd, DEFAULT_DATA_DIR) : resolve(fileBase, file.dataDir));
  const delivery = buildDelivery(file.delivery, over, { fileBase, origin: fileOrigin }, issues);
  const feedback = buildFeedback(file.feedback, { fileBase, dataDir, origin: fileOrigin }, issues);
  if (issues.length > 0) throw new ConfigError(issues);

  const httpIn = file.http ?? {};
  const config: Config = {
    hostname,
    dataDir,
    smtp: {
      listeners: placed.map((p) => p.listener),
      limits,
      lineEndings: file.smtp?.lineEndings ?? DEFAULT_LINE_ENDINGS,
      tls,
      users: users.map((u) => ({
        username: u.username,
        passwordHash: u.passwordHash,
        ...(u.allowedSenders === undefined ? {} : { allowedSenders: u.allowedSenders }),
      })),
      trustedNetworks: over.trustedNetworks ?? file.smtp?.trustedNetworks ?? DEFAULT_TRUSTED_NETWORKS,
      abuse: buildAbuse(file.smtp?.abuse),
    },
    http: {
      address: over.http?.address ?? httpIn.address ?? DEFAULT_HTTP.address,
      port: over.http?.port ?? httpIn.port ?? DEFAULT_HTTP.port,
      tokens: httpIn.tokens ?? DEFAULT_HTTP.tokens,
    },
    dns: {
      servers: over.dnsServers ?? file.dns?.servers ?? DEFAULT_DNS.servers,
      timeoutMs: file.dns?.timeout ?? DEFAULT_DNS.timeoutMs,
    },
    delivery,
    feedback,
    log: { level: over.logLevel ?? file.log?.level ?? DEFAULT_LOG_LEVEL },
  };
  return deepFreeze(structuredClone(config));
}

function definedOnly<T extends object>(layer: T): Partial<T> {
  return Object.fromEntries(Object.entries(layer).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** Freezes an object graph of plain objects and arrays. */
export function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}
