/**
 * The main thread's handle on the SMTP ingress thread (ingress-worker.ts): starts it,
 * answers its questions, relays what it reports, and stops it.
 *
 * In: the config, the TLS material, a way to attach a spool client, the lease owner,
 * the suppression list (snapshot and changes, mirrored in the thread), the
 * sync-delivery waiters, and where metrics go. Out: the bound listeners, the open
 * connection count (as last reported, at most STATS_MS old), `close` (stop accepting)
 * and `drain` (let sessions finish up to a bound; the thread then ends). Starting
 * rejects with the thread's own error (a port in use, a bad certificate). If the
 * thread dies later (a bug), the error is logged and a new one is started on the same
 * listeners, after RESTART_MS: mail already acknowledged is in the spool, and
 * clients whose sessions were cut retry. A replacement that fails to start is tried
 * again, the wait doubling up to MAX_RESTART_MS. Stopping while no thread runs (between
 * a failure and its replacement) has nothing to wait for. No untrusted input reaches
 * this side.
 */
import { type MessagePort, Worker } from 'node:worker_threads';
import type { Config } from '../config/types.ts';
import type { SuppressionList } from '../feedback/suppression.ts';
import type { SyncWaiters } from '../feedback/sync-waiters.ts';
import type { LogLevel } from '../ingress/smtp/session-env.ts';
import type { FromIngress, IngressWorkerData, ListenerInfo, ToIngress } from './ingress-protocol.ts';

const RESTART_MS = 1000;
const MAX_RESTART_MS = 30_000;

export interface IngressThreadOptions {
  readonly config: Config;
  readonly tls: { readonly key: string; readonly cert: string };
  readonly attachSpool: () => MessagePort;
  readonly claimFor: { readonly owner: string; readonly leaseMs: number };
  readonly suppression: SuppressionList;
  readonly sync: SyncWaiters;
  readonly observeAcceptLatency: (ms: number) => void;
  readonly log: (level: LogLevel, message: string, fields?: Record<string, unknown>) => void;
  /** The thread's module (default ingress-worker.ts); tests give one that fails on cue. */
  readonly module?: URL;
}

export interface IngressThread {
  readonly listeners: readonly ListenerInfo[];
  /** Open SMTP connections, as the thread last reported them. */
  readonly connections: number;
  /** Stops accepting new connections. */
  close(): Promise<void>;
  /** Waits for sessions to finish, up to `timeoutMs`, then cuts them; the thread ends. */
  drain(timeoutMs: number): Promise<void>;
}

export async function startIngressThread(options: IngressThreadOptions): Promise<IngressThread> {
  let worker: Worker;
  /** The current thread has not exited. */
  let alive = false;
  let listeners: readonly ListenerInfo[] = [];
  let connections = 0;
  let stopping = false;
  let closed: Promise<void> | undefined;
  let drained: Promise<void> | undefined;
  const waiting = new Map<'closed' | 'drained', () => void>();
  const stopWatching = options.suppression.watch((change) => send({ type: 'suppression', change }));

  function send(message: ToIngress): void {
    worker.postMessage(message);
  }

  /** What a running thread reports (its start, `ready` or `failed`, is handled by spawn). */
  function onMessage(message: Exclude<FromIngress, { type: 'ready' | 'failed' }>): void {
    switch (message.type) {
      case 'stats':
        connections = message.connections;
        for (const ms of message.acceptLatenciesMs) options.observeAcceptLatency(ms);
        return;
      case 'sync-ask': {
        // The question can arrive before the spool handed the message over: wait for it.
        // A thread started since then numbers its own questions: the answer is not for it.
        const asker = worker;
        void options.sync.outcome(message.messageId, message.budgetMs, true).then((outcome) => {
          if (worker === asker) send({ type: 'sync-outcome', ask: message.ask, outcome });
        });
        return;
      }
      case 'sync-answered':
        options.sync.answered(message.messageId, message.refusal);
        return;
      case 'closed':
      case 'drained':
        waiting.get(message.type)?.();
        return;
      default: {
        const never: never = message;
        options.log('error', 'unknown message from the ingress thread', { message: String(never) });
      }
    }
  }

  /**
   * Starts a thread; resolves once its listeners are bound, rejects with its error.
   * A restarted thread binds the ports the first one got (an ephemeral `:0` too).
   */
  function spawn(): Promise<void> {
    const spool = options.attachSpool();
    const data: IngressWorkerData = {
      config: listeners.length === 0 ? options.config : onBoundPorts(options.config, listeners),
      tls: options.tls,
      spool,
      claimFor: options.claimFor,
      suppression: options.suppression.snapshot(),
    };
    const current = new Worker(options.module ?? new URL('./ingress-worker.ts', import.meta.url), {
      workerData: data,
      transferList: [spool],
      name: 'mxpress-ingress',
    });
    worker = current;
    alive = true;
    return new Promise<void>((resolve, reject) => {
      let started = false;
      current.on('message', (message: FromIngress) => {
        if (message.type === 'ready') {
          started = true;
          listeners = message.listeners;
          resolve();
        } else if (message.type === 'failed') {
          reject(new Error(message.error));
        } else {
          onMessage(message);
        }
      });
      current.on('error', (error) => {
        if (!started) reject(error);
        else options.log('error', 'the SMTP ingress thread failed', { error: String(error) });
      });
      current.on('exit', (code) => {
        if (worker === current) alive = false;
        if (!started) {
          reject(new Error(`the SMTP ingress thread exited (code ${code}) before it was ready`));
          return;
        }
        if (stopping) return;
        options.log('error', 'the SMTP ingress thread ended; starting another', { code });
        restartAfter(RESTART_MS);
      });
    });
  }

  /** Starts a replacement after `delayMs`; one that fails to start is tried again, later each time. */
  function restartAfter(delayMs: number): void {
    const timer = setTimeout(() => {
      if (stopping) return;
      spawn().catch((error: unknown) => {
        const next = Math.min(delayMs * 2, MAX_RESTART_MS);
        options.log('error', 'could not restart the SMTP ingress thread; trying again', {
          error: String(error),
          inMs: next,
        });
        restartAfter(next);
      });
    }, delayMs);
    timer.unref();
  }

  function expect(type: 'closed' | 'drained', message: ToIngress): Promise<void> {
    return new Promise<void>((resolve) => {
      const done = (): void => {
        waiting.delete(type);
        resolve();
      };
      // A thread that is gone (or goes meanwhile) has nothing left to close or drain.
      if (!alive) return done();
      waiting.set(type, done);
      worker.once('exit', done);
      send(message);
    });
  }

  await spawn();
  return {
    get listeners() {
      return listeners;
    },
    get connections() {
      return connections;
    },
    close() {
      stopping = true;
      closed ??= expect('closed', { type: 'close' });
      return closed;
    },
    drain(timeoutMs) {
      stopping = true;
      drained ??= (async () => {
        await expect('drained', { type: 'drain', timeoutMs });
        stopWatching();
        await worker.terminate();
      })();
      return drained;
    },
  };
}

/** The config with each SMTP listener on the port it was bound to (same names, same order). */
function onBoundPorts(config: Config, bound: readonly ListenerInfo[]): Config {
  const listeners = config.smtp.listeners.map((listener) => {
    const port = bound.find((b) => b.name === listener.name)?.port;
    return port === undefined ? listener : { ...listener, port };
  });
  return { ...config, smtp: { ...config.smtp, listeners } };
}
