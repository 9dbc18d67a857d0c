/**
 * Builds the delivery side: resolver, SMTP client, engine and queue scheduler.
 *
 * In: the config, the spool and the bounce hook. Out: the
 * scheduler, the engine (for stats and shutdown) and `admit`, the acceptor's fast
 * path. The transaction loader takes a just-accepted message's body from memory
 * (`FreshBodies`, filled by `admit`) for its first attempt, and otherwise reads it
 * from the spool (bodies are never kept in memory between attempts), then decides
 * whether it needs 8BITMIME.
 */
import { isAscii } from 'node:buffer';
import { randomBytes } from 'node:crypto';
import type { Config } from '../config/types.ts';
import type { EnvelopeInput } from '../contracts/envelope.ts';
import type { Spool } from '../contracts/spool.ts';
import { createResolver } from '../delivery/dns/resolver.ts';
import { DeliveryEngine } from '../delivery/engine.ts';
import type { DeliveryJob } from '../delivery/job.ts';
import { DEFAULT_SHAPING } from '../delivery/router.ts';
import { openSmtpConnection } from '../delivery/smtp-client/index.ts';
import type { OutboundTransaction } from '../delivery/smtp-client/types.ts';
import { httpsPolicyFetcher, MtaStsPolicies } from '../delivery/tls-policy/mta-sts.ts';
import { TlsReportStore } from '../delivery/tls-policy/tls-report.ts';
import type { AcceptedMessage } from '../ingress/accept.ts';
import type { DeliveryReport } from '../queue/reports.ts';
import { domainOf, Scheduler, type SchedulerDeps } from '../queue/scheduler.ts';
import { FreshBodies } from './fresh-bodies.ts';

/** Bytes of just-accepted bodies kept for their first attempt (see fresh-bodies.ts). */
const FRESH_BODY_BYTES = 16 * 1024 * 1024;

export interface DeliverySide {
  readonly scheduler: Scheduler;
  readonly engine: DeliveryEngine;
  readonly owner: string;
  /**
   * The acceptor's fast path: queues a just-committed message for its first attempt,
   * which takes `body` (when given) from memory instead of reading the spool.
   */
  admit(message: AcceptedMessage, envelope: EnvelopeInput, body: Uint8Array | undefined): void;
  /** TLS-RPT counts per policy domain (RFC 8460), for the API. */
  readonly tlsReports: TlsReportStore;
  stop(timeoutMs: number): Promise<void>;
}

export interface DeliveryWiringDeps {
  readonly config: Config;
  readonly spool: Spool;
  readonly onReport?: (report: DeliveryReport) => Promise<void>;
  readonly classify?: SchedulerDeps['classify'];
  /** Optional signer applied to the body before sending (DKIM). */
  readonly sign?: (body: Uint8Array, job: DeliveryJob) => Promise<Uint8Array>;
  readonly log: (
    level: 'debug' | 'info' | 'warn' | 'error',
    message: string,
    fields?: Record<string, unknown>,
  ) => void;
}

export function buildDeliverySide(deps: DeliveryWiringDeps): DeliverySide {
  const { config, spool } = deps;
  const now = Date.now;
  const owner = `${config.hostname}:${process.pid}:${randomBytes(4).toString('hex')}`;
  const resolver = createResolver({ servers: config.dns.servers, timeoutMs: config.dns.timeoutMs });
  const delivery = config.delivery;

  const freshBodies = new FreshBodies(FRESH_BODY_BYTES);
  const loadTransaction = async (job: DeliveryJob): Promise<OutboundTransaction> => {
    let body = freshBodies.take(job.messageId) ?? (await spool.readBody(job.messageId));
    if (deps.sign) body = await deps.sign(body, job);
    return transactionFor(job, body);
  };
  // Without signing, a body still in memory makes the transaction at once.
  const loadTransactionNow = deps.sign
    ? undefined
    : (job: DeliveryJob): OutboundTransaction | undefined => {
        const body = freshBodies.take(job.messageId);
        return body ? transactionFor(job, body) : undefined;
      };
  const transactionFor = (job: DeliveryJob, body: Uint8Array): OutboundTransaction => {
    return {
      mailFrom: job.mailFrom,
      recipients: job.recipients.map((r) => ({
        address: r.address,
        ...(r.notify !== undefined ? { notify: r.notify } : {}),
        ...(r.orcpt !== undefined ? { orcpt: r.orcpt } : {}),
      })),
      body,
      size: body.length,
      eightBit: hasEightBit(body),
      smtputf8: job.smtputf8,
      ...(job.ret !== undefined ? { ret: job.ret } : {}),
      ...(job.envid !== undefined ? { envid: job.envid } : {}),
    };
  };

  const tlsReports = new TlsReportStore();
  const mtaSts = delivery.mtaSts
    ? new MtaStsPolicies({ resolver, fetch: httpsPolicyFetcher({ resolver }) })
    : undefined;

  const engine = new DeliveryEngine({
    resolver,
    localHostname: config.hostname,
    mxPort: delivery.mxPort,
    ipv6: delivery.ipv6,
    shaping: [...delivery.shaping, DEFAULT_SHAPING],
    routes: delivery.routes,
    tlsRules: delivery.tls,
    ...(mtaSts ? { mtaSts } : {}),
    tlsReports,
    ...(delivery.timeouts ? { timeouts: delivery.timeouts } : {}),
    idleConnectionMs: delivery.idleConnectionMs,
    connect: openSmtpConnection,
    loadTransaction,
    loadTransactionNow,
    now,
    log: deps.log,
  });

  const scheduler = new Scheduler({
    spool,
    engine,
    owner,
    policy: { intervalsMs: delivery.retryIntervalsMs, maxQueueTimeMs: delivery.maxQueueTimeMs },
    delayWarningAfterMs: delivery.delayWarningAfterMs,
    ...(deps.onReport ? { onReport: deps.onReport } : {}),
    ...(deps.classify ? { classify: deps.classify } : {}),
    now,
    log: deps.log,
  });

  return {
    scheduler,
    engine,
    owner,
    admit(message, envelope, body) {
      if (body !== undefined) {
        // The scheduler makes one job per recipient domain, and each job loads the body once.
        const domains = new Set(envelope.recipients.map((r) => domainOf(r.address)));
        freshBodies.put(message.id, body, domains.size);
      }
      scheduler.admit(message.id, message.receivedAt, message.size, envelope);
    },
    tlsReports,
    async stop(timeoutMs) {
      await scheduler.stop(timeoutMs);
      await engine.close();
    },
  };
}

/** True when any byte has the high bit set (the message needs 8BITMIME). */
export function hasEightBit(body: Uint8Array): boolean {
  return !isAscii(body);
}
