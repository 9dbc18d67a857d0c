/**
 * Composition root: builds every stage from the config and starts them.
 *
 * In: a validated, frozen Config. Out: a running server with its bound addresses
 * and a `stop(reason)` that drains (stop accepting, let sessions finish up to a
 * bound, close the spool so nothing acknowledged is lost). Fails at start with a
 * clear error when a port is taken or the data dir is unusable.
 */
import { createHash } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { createSecureContext } from 'node:tls';
import pino from 'pino';
import { buildHttpApi } from '../admin/http-api/server.ts';
import { cidrContains, parseCidrs } from '../config/cidr.ts';
import { verifyPassword } from '../config/password.ts';
import { loadOrCreateTlsMaterial } from '../config/tls-material.ts';
import type { Config } from '../config/types.ts';
import type { PurgeResult, Spool } from '../contracts/spool.ts';
import { classify } from '../feedback/classify.ts';
import { EventBus } from '../feedback/event-bus.ts';
import { type FeedbackServices, startFeedbackServices } from '../feedback/feedback-services.ts';
import { refusalFor } from '../feedback/suppression.ts';
import { SyncWaiters } from '../feedback/sync-waiters.ts';
import { AbuseGuard } from '../ingress/abuse/abuse-guard.ts';
import { createAcceptor } from '../ingress/accept.ts';
import { type SmtpListener, startSmtpListener } from '../ingress/smtp/listener.ts';
import type { LogLevel } from '../ingress/smtp/session-env.ts';
import { createSqliteSpool } from '../spool/sqlite/index.ts';
import { buildDeliverySide } from './delivery-wiring.ts';
import { createReporter, loadDkimSigner } from './feedback-wiring.ts';
import { startHistoryPurge } from './history-purge.ts';

export interface RunningMxpress {
  readonly listeners: readonly {
    name: string;
    address: string;
    port: number;
    tls: string;
    deliveryMode: string;
  }[];
  readonly http?: { address: string; port: number };
  readonly tls: { selfSigned: boolean; fingerprint256: string };
  readonly events: EventBus;
  /** The spool, for the HTTP API and tests; other stages never reach into it through here. */
  readonly spool: Spool;
  /** One history purge run now, as the timer would run it (tests). */
  purgeHistory(): Promise<PurgeResult>;
  stop(reason: string): Promise<void>;
}

/** A hash of a random password: unknown users cost the same scrypt work as known ones. */
const DUMMY_HASH = 'scrypt$16384$8$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=';

export async function startMxpress(config: Config): Promise<RunningMxpress> {
  const logger = pino({ level: config.log.level, base: { host: config.hostname } });
  const log = (level: LogLevel, message: string, fields?: Record<string, unknown>): void => {
    logger[level](fields ?? {}, message);
  };
  // Message bodies live here: a new data dir is readable by its owner only.
  mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });

  const spool = createSqliteSpool({
    dataDir: config.dataDir,
    log: (msg, extra) => logger.info(extra ?? {}, msg),
  });
  await spool.open();
  let free = await spool.freeBytes();
  const freeTimer = setInterval(() => {
    spool.freeBytes().then(
      (bytes) => {
        free = bytes;
      },
      () => {},
    );
  }, 1000);
  freeTimer.unref();

  const events = new EventBus((error) => log('error', 'event listener failed', { error: String(error) }));
  const syncWaiters = new SyncWaiters();
  events.subscribe((event) => syncWaiters.observe(event));

  // Feedback: suppression list, webhook outbox, event log file, metrics (feedback/feedback-services.ts).
  // Started before delivery so every bounce is seen; stopped after delivery, before the spool.
  let feedback: FeedbackServices;
  try {
    feedback = await startFeedbackServices({
      config: config.feedback,
      dataDir: config.dataDir,
      eventsSince: (after, limit) => spool.eventsSince(after, limit),
      record: async (fresh) => {
        // Publish the stored copies: they carry the seq the stream's ids and resumes rely on.
        events.publish((await spool.update([], fresh)).events);
      },
      subscribe: (listener) => events.subscribe(listener),
      stats: async () => ({
        queue: (await spool.stats()).recipientsByStatus,
        inFlight: delivery.scheduler.inFlight,
        connections: listeners.reduce((sum, l) => sum + l.connections, 0),
      }),
      log,
      processMetrics: true,
    });
  } catch (error) {
    await spool.close();
    throw error;
  }

  let report: ReturnType<typeof createReporter> | undefined;
  const sign = loadDkimSigner(config, log);
  const delivery = buildDeliverySide({
    config,
    spool,
    events,
    log,
    ...(sign ? { sign } : {}),
    onReport: (r) => report?.(r) ?? Promise.resolve(),
    classify: (input) => classify(input, config.feedback.classification),
  });
  const acceptor = createAcceptor({
    spool,
    hostname: config.hostname,
    events,
    claimFor: { owner: delivery.owner, leaseMs: 30 * 60_000 },
    onAccepted: (message, input, body) => {
      if (input.tags?.deliveryMode === 'sync')
        syncWaiters.register(
          message.id,
          input.envelope.recipients.map((r) => r.address),
        );
      delivery.admit(message, input.envelope, body);
    },
  });
  report = createReporter({
    acceptor,
    spool,
    events,
    hostname: config.hostname,
    log,
    rules: config.feedback.classification,
    refusalDelivered: (id) => syncWaiters.settled(id),
  });
  delivery.scheduler.start();
  const purge = startHistoryPurge({
    spool,
    retentionMs: config.feedback.retentionMs,
    log,
    keepEventsAfter: () => feedback.webhooks.oldestCursor,
    holdMs: config.feedback.webhookHoldMs,
    onHeldEventsDropped: (seq) => {
      feedback.webhooks
        .skipPurged(seq)
        .catch((error: unknown) =>
          log('error', 'could not move webhook cursors past purged events', { error: String(error) }),
        );
    },
  });

  const material = await loadOrCreateTlsMaterial({
    dataDir: config.dataDir,
    hostname: config.hostname,
    ...(config.smtp.tls.certFile ? { certFile: config.smtp.tls.certFile } : {}),
    ...(config.smtp.tls.keyFile ? { keyFile: config.smtp.tls.keyFile } : {}),
  });
  const secureContext = createSecureContext({
    key: material.key,
    cert: material.cert,
    minVersion: 'TLSv1.2',
  });
  const users = new Map(config.smtp.users.map((u) => [u.username, u.passwordHash]));
  // One guard for all listeners: a client's counts do not reset by switching ports.
  const abuse = new AbuseGuard(config.smtp.abuse, config.smtp.users);

  const trustedNetworks = parseCidrs(config.smtp.trustedNetworks);
  const listeners: SmtpListener[] = [];
  try {
    for (const listener of config.smtp.listeners) {
      listeners.push(
        await startSmtpListener({
          hostname: config.hostname,
          listener,
          limits: config.smtp.limits,
          lineEndings: config.smtp.lineEndings,
          secureContext,
          tlsCredentials: { key: material.key, cert: material.cert },
          acceptor,
          isTrusted: (ip) => cidrContains(trustedNetworks, ip),
          authAvailable: users.size > 0,
          abuse,
          async verifyUser(username, password) {
            const hash = users.get(username);
            const ok = await verifyPassword(password, hash ?? DUMMY_HASH);
            return hash !== undefined && ok;
          },
          freeBytes: () => free,
          log,
          refuseRecipient: (address) => {
            const entry = feedback.suppression.check(address);
            return entry ? refusalFor(entry) : undefined;
          },
          observeAcceptLatency: (ms) => feedback.metrics.observeAcceptLatency(ms),
          sync: {
            outcome: (id, budgetMs) => syncWaiters.outcome(id, budgetMs),
            answered: (id, refusal) => syncWaiters.answered(id, refusal),
          },
        }),
      );
    }
  } catch (error) {
    for (const l of listeners) await l.close();
    await delivery.stop(0);
    await feedback.stop();
    await purge.stop();
    await spool.close();
    throw error;
  }

  const api = buildHttpApi({
    spool,
    acceptor,
    refuseRecipient: (address) => {
      const entry = feedback.suppression.check(address);
      return entry ? refusalFor(entry) : undefined;
    },
    limits: config.smtp.limits,
    freeBytes: () => free,
    pokeQueue: () => delivery.scheduler.poke(),
    subscribe: (listener) => events.subscribe(listener),
    publish: (stored) => events.publish(stored),
    classificationRules: config.feedback?.classification ?? [],
    tlsReports: () => delivery.tlsReports.snapshot(),
    suppression: feedback.suppression,
    webhooks: feedback.webhooks,
    metrics: feedback.metrics,
    // A token in the config is either its SHA-256 (64 hex digits) or, discouraged, the token itself.
    tokenHashes: config.http.tokens.map((t) =>
      /^[0-9a-f]{64}$/.test(t) ? t : createHash('sha256').update(t).digest('hex'),
    ),
    runtimeStats: () => ({
      commitGroups: spool.commitGroups(),
      delivery: delivery.engine.stats(),
      queue: { inFlight: delivery.scheduler.inFlight },
      process: { rssBytes: process.memoryUsage.rss(), uptimeSeconds: Math.round(process.uptime()) },
    }),
  });
  try {
    await api.listen({ host: config.http.address, port: config.http.port });
  } catch (error) {
    for (const l of listeners) await l.close();
    await delivery.stop(0);
    await feedback.stop();
    await purge.stop();
    await spool.close();
    throw error;
  }
  const httpAddress = api.server.address();
  const http =
    typeof httpAddress === 'object' && httpAddress
      ? { address: config.http.address, port: httpAddress.port }
      : undefined;

  let stopping: Promise<void> | undefined;
  return {
    listeners: listeners.map((l, i) => ({
      name: l.name,
      address: l.address,
      port: l.port,
      tls: config.smtp.listeners[i]!.tls,
      deliveryMode: config.smtp.listeners[i]!.deliveryMode,
    })),
    ...(http ? { http } : {}),
    tls: { selfSigned: material.selfSigned, fingerprint256: material.fingerprint256 },
    events,
    spool,
    purgeHistory: () => purge.runOnce(),
    stop(reason) {
      stopping ??= (async () => {
        log('info', 'stopping', { reason });
        await Promise.all(listeners.map((l) => l.close()));
        await api.close();
        await Promise.all(listeners.map((l) => l.drain(10_000)));
        await delivery.stop(10_000);
        await feedback.stop();
        await purge.stop();
        clearInterval(freeTimer);
        await spool.close();
        log('info', 'stopped', { reason });
        logger.flush();
      })();
      return stopping;
    },
  };
}
