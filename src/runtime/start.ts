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
import pino from 'pino';
import { buildHttpApi } from '../admin/http-api/server.ts';
import { loadOrCreateTlsMaterial } from '../config/tls-material.ts';
import type { Config } from '../config/types.ts';
import type { PurgeResult, Spool } from '../contracts/spool.ts';
import { classify } from '../feedback/classify.ts';
import { EventBus } from '../feedback/event-bus.ts';
import { type FeedbackServices, startFeedbackServices } from '../feedback/feedback-services.ts';
import { refuseSuppressed } from '../feedback/suppression.ts';
import { SyncWaiters } from '../feedback/sync-waiters.ts';
import { createAcceptor } from '../ingress/accept.ts';
import type { LogLevel } from '../ingress/smtp/session-env.ts';
import { createSqliteSpool } from '../spool/sqlite/index.ts';
import { buildDeliverySide, type DeliverySide } from './delivery-wiring.ts';
import { createReporter, loadDkimSigner } from './feedback-wiring.ts';
import { watchFreeSpace } from './free-space.ts';
import { startHistoryPurge } from './history-purge.ts';
import { type IngressThread, startIngressThread } from './ingress-thread.ts';

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

/** How long new recipients stay leased to this node's queue when committed (the fast path). */
const LEASE_MS = 30 * 60_000;

export interface StartOptions {
  /** The SMTP ingress thread's module (tests give one that fails on cue). */
  readonly ingressModule?: URL;
}

export async function startMxpress(config: Config, options: StartOptions = {}): Promise<RunningMxpress> {
  const logger = pino({ level: config.log.level, base: { host: config.hostname } });
  const log = (level: LogLevel, message: string, fields?: Record<string, unknown>): void => {
    logger[level](fields ?? {}, message);
  };
  // Message bodies live here: a new data dir is readable by its owner only.
  mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });

  const events = new EventBus((error) => log('error', 'event listener failed', { error: String(error) }));
  const syncWaiters = new SyncWaiters();
  events.subscribe((event) => syncWaiters.observe(event));

  // Set once the delivery side exists; messages are handed over only after the ingress
  // thread starts, later still.
  let delivery: DeliverySide | undefined;
  const spool = createSqliteSpool({
    dataDir: config.dataDir,
    log: (msg, extra) => logger.info(extra ?? {}, msg),
    // Every stored event, from any thread, reaches live consumers from here, in seq order.
    onStored: (stored) => events.publish(stored),
    // Mail the ingress thread committed: this thread delivers it.
    onHandedOver: (messages) => {
      for (const { message } of messages) {
        if (message.tags?.deliveryMode === 'sync')
          syncWaiters.register(
            message.id,
            message.envelope.recipients.map((r) => r.address),
          );
        delivery?.admit(
          { id: message.id, size: message.body.length, receivedAt: message.receivedAt },
          message.envelope,
          message.body,
        );
      }
    },
  });
  await spool.open();
  const free = await watchFreeSpace(() => spool.freeBytes(), log);

  // Feedback: suppression list, webhook outbox, event log file, metrics (feedback/feedback-services.ts).
  // Started before delivery so every bounce is seen; stopped after delivery, before the spool.
  let feedback: FeedbackServices;
  try {
    feedback = await startFeedbackServices({
      config: config.feedback,
      dataDir: config.dataDir,
      eventsSince: (after, limit) => spool.eventsSince(after, limit),
      record: async (fresh) => {
        // Stored, the spool publishes them (with the seq the stream's ids and resumes rely on).
        await spool.update([], fresh);
      },
      subscribe: (listener) => events.subscribe(listener),
      stats: async () => ({
        queue: (await spool.stats()).recipientsByStatus,
        inFlight: delivery?.scheduler.inFlight ?? 0,
        connections: ingress?.connections ?? 0,
      }),
      log,
      processMetrics: true,
    });
  } catch (error) {
    free.stop();
    await spool.close();
    throw error;
  }

  let report: ReturnType<typeof createReporter> | undefined;
  const sign = loadDkimSigner(config, log);
  delivery = buildDeliverySide({
    config,
    spool,
    log,
    ...(sign ? { sign } : {}),
    onReport: (r) => report?.(r) ?? Promise.resolve(),
    classify: (input) => classify(input, config.feedback.classification),
  });
  const deliverySide = delivery;
  const claimFor = { owner: deliverySide.owner, leaseMs: LEASE_MS };
  // This thread's own commits: HTTP injection and delivery reports.
  const acceptor = createAcceptor({
    spool,
    hostname: config.hostname,
    claimFor,
    onAccepted: (message, input, body) => deliverySide.admit(message, input.envelope, body),
  });
  report = createReporter({
    acceptor,
    spool,
    hostname: config.hostname,
    log,
    rules: config.feedback.classification,
    refusalDelivered: (id) => syncWaiters.settled(id),
  });
  deliverySide.scheduler.start();
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
  let ingress: IngressThread | undefined;
  try {
    ingress = await startIngressThread({
      config,
      tls: { key: material.key, cert: material.cert },
      attachSpool: () => spool.attachClient(),
      claimFor,
      suppression: feedback.suppression,
      sync: syncWaiters,
      observeAcceptLatency: (ms) => feedback.metrics.observeAcceptLatency(ms),
      log,
      module: options.ingressModule,
    });
  } catch (error) {
    await deliverySide.stop(0);
    await feedback.stop();
    await purge.stop();
    free.stop();
    await spool.close();
    throw error;
  }
  const smtp = ingress;

  const api = buildHttpApi({
    spool,
    acceptor,
    refuseRecipient: refuseSuppressed(feedback.suppression),
    limits: config.smtp.limits,
    freeBytes: () => free.bytes,
    pokeQueue: () => deliverySide.scheduler.poke(),
    subscribe: (listener) => events.subscribe(listener),
    classificationRules: config.feedback?.classification ?? [],
    tlsReports: () => deliverySide.tlsReports.snapshot(),
    suppression: feedback.suppression,
    webhooks: feedback.webhooks,
    metrics: feedback.metrics,
    // A token in the config is either its SHA-256 (64 hex digits) or, discouraged, the token itself.
    tokenHashes: config.http.tokens.map((t) =>
      /^[0-9a-f]{64}$/.test(t) ? t : createHash('sha256').update(t).digest('hex'),
    ),
    runtimeStats: () => ({
      commitGroups: spool.commitGroups(),
      delivery: deliverySide.engine.stats(),
      queue: { inFlight: deliverySide.scheduler.inFlight },
      process: { rssBytes: process.memoryUsage.rss(), uptimeSeconds: Math.round(process.uptime()) },
    }),
  });
  try {
    await api.listen({ host: config.http.address, port: config.http.port });
  } catch (error) {
    await smtp.close();
    await smtp.drain(0);
    await deliverySide.stop(0);
    await feedback.stop();
    await purge.stop();
    free.stop();
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
    listeners: smtp.listeners.map((l, i) => ({
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
        await smtp.close();
        await api.close();
        await smtp.drain(10_000);
        await deliverySide.stop(10_000);
        await feedback.stop();
        await purge.stop();
        free.stop();
        await spool.close();
        log('info', 'stopped', { reason });
        logger.flush();
      })();
      return stopping;
    },
  };
}
