/**
 * The SMTP ingress thread: every SMTP listener and session runs here, beside the main
 * thread (delivery, feedback, HTTP API) and the spool's thread, so the sockets of
 * arriving mail and those of deliveries are served on two cores.
 *
 * In: `IngressWorkerData` (the config, the TLS key and certificate, a client port of
 * the spool, the lease owner for new recipients, the suppression list as it is), then
 * `ToIngress` messages. Out: `FromIngress` messages: the bound listeners, counts for
 * the metrics, questions for sync delivery. A message is committed from here straight
 * to the spool (ingress/accept.ts over spool/sqlite/port-client.ts); the spool hands
 * it to the main thread, which delivers it and publishes its `received` event. What
 * RCPT needs (abuse limits, the relay rule, the suppression list) is answered here
 * without a round trip: the list is mirrored (feedback/suppression-mirror.ts).
 * Handles UNTRUSTED input only through the listeners. A failure to start is
 * reported (`failed`); a bug later ends the thread and the main thread starts another.
 */
import { createSecureContext } from 'node:tls';
import { type MessagePort, parentPort, workerData } from 'node:worker_threads';
import pino from 'pino';
import { cidrContains, parseCidrs } from '../config/cidr.ts';
import { verifyPassword } from '../config/password.ts';
import { refuseSuppressed } from '../feedback/suppression.ts';
import { SuppressionMirror } from '../feedback/suppression-mirror.ts';
import type { SyncOutcome } from '../feedback/sync-waiters.ts';
import { AbuseGuard } from '../ingress/abuse/abuse-guard.ts';
import { createAcceptor } from '../ingress/accept.ts';
import { type SmtpListener, startSmtpListener } from '../ingress/smtp/listener.ts';
import type { LogLevel } from '../ingress/smtp/session-env.ts';
import { diskFreeBytes } from '../spool/sqlite/index.ts';
import { SpoolPortClient } from '../spool/sqlite/port-client.ts';
import { watchFreeSpace } from './free-space.ts';
import type { FromIngress, IngressWorkerData, ToIngress } from './ingress-protocol.ts';

/** A hash of a random password: unknown users cost the same scrypt work as known ones. */
const DUMMY_HASH = 'scrypt$16384$8$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=';
/** How often counts and accept latencies go to the main thread. */
const STATS_MS = 250;

const port = parentPort as MessagePort | null;
if (port === null) throw new Error('the ingress thread must run in a worker thread');
const data = workerData as IngressWorkerData;
const config = data.config;

function post(message: FromIngress): void {
  port!.postMessage(message);
}

const logger = pino({ level: config.log.level, base: { host: config.hostname, thread: 'ingress' } });
const log = (level: LogLevel, message: string, fields?: Record<string, unknown>): void => {
  logger[level](fields ?? {}, message);
};

const spool = new SpoolPortClient(data.spool);
const latencies: number[] = [];
const acceptor = createAcceptor({ spool, hostname: config.hostname, claimFor: data.claimFor });

const suppression = new SuppressionMirror({
  enabled: config.feedback.suppression.enabled,
  entries: data.suppression,
});

/** Sync delivery: the verdicts live on the main thread; a question waits for its answer there. */
let nextAsk = 1;
const asks = new Map<number, (outcome: SyncOutcome) => void>();
const sync = {
  outcome(messageId: string, budgetMs: number): Promise<SyncOutcome> {
    const ask = nextAsk++;
    const { promise, resolve } = Promise.withResolvers<SyncOutcome>();
    asks.set(ask, resolve);
    post({ type: 'sync-ask', ask, messageId, budgetMs });
    return promise;
  },
  answered(messageId: string, refusal: boolean): void {
    post({ type: 'sync-answered', messageId, refusal });
  },
};

const free = await watchFreeSpace(() => diskFreeBytes(config.dataDir), log);

const secureContext = createSecureContext({ key: data.tls.key, cert: data.tls.cert, minVersion: 'TLSv1.2' });
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
        tlsCredentials: data.tls,
        acceptor,
        isTrusted: (ip) => cidrContains(trustedNetworks, ip),
        authAvailable: users.size > 0,
        abuse,
        async verifyUser(username, password) {
          const hash = users.get(username);
          const ok = await verifyPassword(password, hash ?? DUMMY_HASH);
          return hash !== undefined && ok;
        },
        freeBytes: () => free.bytes,
        log,
        refuseRecipient: refuseSuppressed(suppression),
        observeAcceptLatency: (ms) => latencies.push(ms),
        sync,
      }),
    );
  }
} catch (error) {
  for (const l of listeners) await l.close();
  post({ type: 'failed', error: error instanceof Error ? error.message : String(error) });
  process.exit(1);
}

let connections = -1;
const statsTimer = setInterval(() => {
  const now = listeners.reduce((sum, l) => sum + l.connections, 0);
  if (now === connections && latencies.length === 0) return;
  connections = now;
  post({ type: 'stats', connections: now, acceptLatenciesMs: latencies.splice(0) });
}, STATS_MS);
statsTimer.unref();

port.on('message', (message: ToIngress) => {
  switch (message.type) {
    case 'suppression':
      suppression.apply(message.change);
      return;
    case 'sync-outcome': {
      const resolve = asks.get(message.ask);
      asks.delete(message.ask);
      resolve?.(message.outcome);
      return;
    }
    case 'close':
      void Promise.all(listeners.map((l) => l.close())).then(() => post({ type: 'closed' }));
      return;
    case 'drain':
      void drain(message.timeoutMs);
      return;
    default: {
      const never: never = message;
      log('error', 'unknown message to the ingress thread', { message: String(never) });
    }
  }
});

async function drain(timeoutMs: number): Promise<void> {
  await Promise.all(listeners.map((l) => l.drain(timeoutMs)));
  clearInterval(statsTimer);
  free.stop();
  post({ type: 'stats', connections: 0, acceptLatenciesMs: latencies.splice(0) });
  spool.close();
  logger.flush();
  post({ type: 'drained' });
  port!.close();
}

post({
  type: 'ready',
  listeners: listeners.map((l) => ({ name: l.name, address: l.address, port: l.port })),
});
