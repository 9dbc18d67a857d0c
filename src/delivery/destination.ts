/**
 * A destination: the set of MX hosts (or a relay) that serves one or more domains,
 * with its own job queue, connection budget, idle connections and shaping.
 *
 * Jobs wait here until a worker has a connection for them. Workers reuse
 * connections up to `messagesPerConnection` (RSET only after a transaction that
 * stopped before its final dot), keep them idle for a while afterwards, and obey
 * `maxConnections`, `messagesPerMinute` and the pauses. While jobs are waiting, a
 * worker takes the next one along (loading its message) and, when the server
 * pipelines and the shaping allows it at that moment, sends its MAIL, RCPT and DATA
 * with the current message's final dot: one write and one round trip per message.
 * When no MX host of the site can be reached at all, the site is backed off as a
 * whole: every queued job is deferred at once with the same reason and new jobs
 * are deferred without a connection attempt until the backoff ends.
 * Never rejects: every job's promise resolves with one outcome per recipient.
 */
import type { ShapingRule } from '../config/types.ts';
import type { FailureScope } from '../contracts/status.ts';
import type { DeliveryJob, RecipientOutcome } from './job.ts';
import { SmtpClientError } from './smtp-client/errors.ts';
import type { ConnectOptions, OutboundTransaction, SmtpConnection, TlsPolicy } from './smtp-client/types.ts';
import { outcomesFromError, outcomesFromResult } from './transaction-outcomes.ts';

export interface ConnectTarget {
  readonly mxHost: string;
  readonly addresses: readonly string[];
  readonly port: number;
}

export interface ConnectPlan {
  readonly targets: readonly ConnectTarget[];
  readonly tls: TlsPolicy;
  readonly implicitTls?: boolean;
  readonly auth?: { readonly username: string; readonly password: string };
  /** `direct` or `relay:<name>`. */
  readonly route: string;
}

export interface DestinationDeps {
  readonly key: string;
  readonly rule: ShapingRule;
  readonly localHostname: string;
  readonly timeouts: ConnectOptions['timeouts'];
  readonly idleMs: number;
  readonly connect: (options: ConnectOptions) => Promise<SmtpConnection>;
  /** Reads the body (and signs it); a rejection defers the job. */
  readonly loadTransaction: (job: DeliveryJob) => Promise<OutboundTransaction>;
  /**
   * The transaction at once when no I/O is needed to make it (a just-accepted body in
   * memory, nothing to sign), else undefined: lets a job that arrives while a message is
   * being sent ride with that message's final dot.
   */
  readonly loadTransactionNow?: (job: DeliveryJob) => OutboundTransaction | undefined;
  readonly now: () => number;
  readonly log: (level: 'debug' | 'info' | 'warn', message: string, fields?: Record<string, unknown>) => void;
}

interface Waiting {
  readonly job: DeliveryJob;
  readonly resolve: (outcomes: RecipientOutcome[]) => void;
}

/** A job taken off the queue by a worker, its message loading (`load`) or loaded (`tx`). */
interface Carried {
  readonly waiting: Waiting;
  readonly load?: Promise<OutboundTransaction | Error>;
  tx?: OutboundTransaction;
}

export class Destination {
  readonly key: string;
  #deps: DestinationDeps;
  #plan: ConnectPlan;
  #queue: Waiting[] = [];
  #idle: { connection: SmtpConnection; timer: NodeJS.Timeout }[] = [];
  #active = 0;
  #pausedUntil = 0;
  #pauseTimer: NodeJS.Timeout | undefined;
  #backoff: { until: number; error: SmtpClientError; target?: ConnectTarget & { ip: string } } | undefined;
  #nextSlot = 0;
  #consecutive = 0;
  #closed = false;
  /**
   * Connections opened, messages sent over them, and of those the ones whose commands
   * rode with the previous message's final dot (the benchmark's reuse figures).
   */
  readonly counters = { connections: 0, messages: 0, chained: 0 };

  constructor(deps: DestinationDeps, plan: ConnectPlan) {
    this.key = deps.key;
    this.#deps = deps;
    this.#plan = plan;
  }

  get queued(): number {
    return this.#queue.length;
  }

  get active(): number {
    return this.#active;
  }

  /** Epoch ms until which the whole site is backed off (0 when it is not). */
  get backedOffUntil(): number {
    return this.#backoff && this.#backoff.until > this.#deps.now() ? this.#backoff.until : 0;
  }

  /** Queues a job with the latest connection plan; resolves when the attempt is over. */
  enqueue(job: DeliveryJob, plan: ConnectPlan): Promise<RecipientOutcome[]> {
    this.#plan = plan;
    const backoff = this.#backoff;
    if (backoff && backoff.until > this.#deps.now()) {
      return Promise.resolve(this.#siteFailure(job, backoff.error, this.#deps.now(), backoff.target));
    }
    return new Promise((resolve) => {
      this.#queue.push({ job, resolve });
      this.#spawn();
    });
  }

  /** Closes idle connections and defers whatever still waits (shutdown). */
  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#pauseTimer);
    for (const waiting of this.#queue.splice(0)) waiting.resolve(this.#shutdownOutcome(waiting.job));
    await Promise.all(
      this.#idle.splice(0).map(({ connection, timer }) => {
        clearTimeout(timer);
        return connection.quit();
      }),
    );
  }

  #spawn(): void {
    const now = this.#deps.now();
    if (this.#closed) return;
    if (this.#pausedUntil > now) {
      this.#schedulePauseEnd();
      return;
    }
    // Each new worker takes a job synchronously, so this spawns one worker per waiting job;
    // at maxConnections, busy workers carry the waiting jobs with their final dots.
    while (this.#active < this.#deps.rule.maxConnections && this.#queue.length > 0) {
      this.#active++;
      void this.#worker();
    }
  }

  #schedulePauseEnd(): void {
    if (this.#pauseTimer) return;
    const wait = Math.max(0, this.#pausedUntil - this.#deps.now());
    this.#pauseTimer = setTimeout(() => {
      this.#pauseTimer = undefined;
      this.#spawn();
    }, wait);
    this.#pauseTimer.unref();
  }

  async #worker(): Promise<void> {
    let connection = this.#takeIdle();
    // The next job, taken off the queue (its message loading) while the current one is
    // sent, so its commands can ride with the current final dot (`connection.presented`).
    let carried: Carried | undefined;
    try {
      while (!this.#closed) {
        const current = carried ?? this.#carry(this.#queue.shift());
        carried = undefined;
        if (!current) break;
        const presented =
          current.tx !== undefined && connection?.usable === true && connection.presented === current.tx;
        if (!presented) {
          if (this.#pausedUntil > this.#deps.now()) {
            carried = current;
            break;
          }
          if (this.#deps.rule.messagesPerMinute > 0) await this.#rateSlot();
          if (
            connection &&
            (!connection.usable ||
              connection.presented !== undefined ||
              connection.messagesSent >= this.#deps.rule.messagesPerConnection)
          ) {
            void connection.quit();
            connection = undefined;
          }
        }
        const startedAt = this.#deps.now();
        if (presented) this.counters.chained++;
        if (!connection) {
          const opened = await this.#open();
          if (opened instanceof SmtpClientError || !('send' in opened)) {
            const failure = opened instanceof SmtpClientError ? { error: opened, target: undefined } : opened;
            this.#backOff(failure.error, failure.target);
            current.waiting.resolve(
              this.#siteFailure(current.waiting.job, failure.error, startedAt, failure.target),
            );
            for (const other of this.#queue.splice(0))
              other.resolve(this.#siteFailure(other.job, failure.error, startedAt, failure.target));
            break;
          }
          connection = opened;
        }
        const link = connection;
        const pipelining = link.extensions.has('PIPELINING');
        if (pipelining && this.#queue.length > 0) carried = this.#carry(this.#queue.shift());
        // Asked just before the final dot: the carried job, or one that arrived meanwhile
        // and can be loaded at once, rides with it when the shaping allows.
        const follow = (): OutboundTransaction | undefined => {
          carried ??= this.#carryNow();
          return carried?.tx !== undefined && this.#mayFollow(link) ? carried.tx : undefined;
        };
        const outcomes = await this.#send(link, current, startedAt, pipelining ? follow : undefined);
        current.waiting.resolve(outcomes);
        this.#afterMessage(outcomes);
        if (!link.usable) connection = undefined;
      }
    } finally {
      this.#active--;
      if (connection?.presented) connection.destroy(); // its announced transaction was not sent
      if (carried) this.#giveBack(carried);
      if (
        connection?.usable &&
        connection.messagesSent < this.#deps.rule.messagesPerConnection &&
        !this.#closed
      ) {
        this.#park(connection);
      } else if (connection) {
        void connection.quit();
      }
      if (this.#queue.length > 0) this.#spawn();
    }
  }

  /** Starts loading `waiting`'s message; `tx` is set once it is loaded. */
  #carry(waiting: Waiting | undefined): Carried | undefined {
    if (!waiting) return undefined;
    // A body still in memory makes the transaction at once, without a promise.
    const now = this.#deps.loadTransactionNow?.(waiting.job);
    if (now) return { waiting, tx: now };
    const carried: Carried = {
      waiting,
      load: this.#deps.loadTransaction(waiting.job).then(
        (tx) => {
          carried.tx = tx;
          return tx;
        },
        (error: unknown) => (error instanceof Error ? error : new Error(String(error))),
      ),
    };
    return carried;
  }

  /** The next waiting job, when its transaction can be had without waiting (else it stays queued). */
  #carryNow(): Carried | undefined {
    const waiting = this.#queue[0];
    const tx = waiting && this.#deps.loadTransactionNow?.(waiting.job);
    if (!waiting || !tx) return undefined;
    this.#queue.shift();
    return { waiting, tx };
  }

  /** A carried job that will not be sent by this worker goes back to the front of the queue. */
  #giveBack(carried: Carried): void {
    if (this.#closed) carried.waiting.resolve(this.#shutdownOutcome(carried.waiting.job));
    else this.#queue.unshift(carried.waiting);
  }

  /** The deferral of a job that shutdown caught before it was sent. */
  #shutdownOutcome(job: DeliveryJob): RecipientOutcome[] {
    const now = this.#deps.now();
    const error = new SmtpClientError({
      code: 'CLOSED',
      phase: 'connect',
      message: 'mxpress is shutting down',
    });
    return outcomesFromError(
      job,
      error,
      { startedAt: now, finishedAt: now, route: this.#plan.route },
      'session',
    );
  }

  /** Whether the next message may be announced with this one's final dot, taking its rate slot. */
  #mayFollow(connection: SmtpConnection): boolean {
    const rule = this.#deps.rule;
    const now = this.#deps.now();
    if (this.#closed || this.#pausedUntil > now) return false;
    if (connection.messagesSent >= rule.messagesPerConnection) return false;
    if (rule.pauseAfterDeliveries > 0 && this.#consecutive + 1 >= rule.pauseAfterDeliveries) return false;
    if (rule.messagesPerMinute > 0) {
      if (this.#nextSlot > now) return false;
      this.#nextSlot = now + 60_000 / rule.messagesPerMinute;
    }
    return true;
  }

  async #send(
    connection: SmtpConnection,
    current: Carried,
    startedAt: number,
    follow: (() => OutboundTransaction | undefined) | undefined,
  ): Promise<RecipientOutcome[]> {
    const route = this.#plan.route;
    const job = current.waiting.job;
    const loaded = current.tx ?? (await current.load!);
    if (loaded instanceof Error) {
      const local = new SmtpClientError({
        code: 'LOCAL',
        phase: 'mail',
        message: `could not load the message: ${String(loaded)}`,
      });
      return outcomesFromError(job, local, { startedAt, finishedAt: this.#deps.now(), route }, 'message');
    }
    try {
      const result = await connection.send(loaded, follow);
      this.counters.messages++;
      const outcomes = outcomesFromResult(job, result, {
        startedAt,
        finishedAt: this.#deps.now(),
        route,
        connection,
      });
      const dsn = connection.extensions.has('DSN');
      return dsn ? outcomes.map((o) => ({ ...o, nextHopDsn: true })) : outcomes;
    } catch (error) {
      const failure =
        error instanceof SmtpClientError
          ? error
          : new SmtpClientError({ code: 'LOCAL', phase: 'data', message: String(error) });
      connection.destroy();
      return outcomesFromError(
        job,
        failure,
        { startedAt, finishedAt: this.#deps.now(), route, connection },
        'session',
      );
    }
  }

  /** Tries the MX hosts in preference order and each of their addresses in turn. */
  async #open(): Promise<
    SmtpConnection | { error: SmtpClientError; target: (ConnectTarget & { ip: string }) | undefined }
  > {
    const plan = this.#plan;
    let last: { error: SmtpClientError; target: (ConnectTarget & { ip: string }) | undefined } = {
      error: new SmtpClientError({
        code: 'NO_ADDRESS',
        phase: 'connect',
        message: 'no address to connect to',
      }),
      target: undefined,
    };
    for (const target of plan.targets) {
      for (const ip of target.addresses) {
        let tls = plan.tls;
        for (let round = 0; round < 2; round++) {
          try {
            const connection = await this.#deps.connect({
              host: ip,
              port: target.port,
              mxHost: target.mxHost,
              localHostname: this.#deps.localHostname,
              tls,
              ...(plan.implicitTls ? { implicitTls: true } : {}),
              ...(plan.auth ? { auth: plan.auth } : {}),
              ...(this.#deps.timeouts ? { timeouts: this.#deps.timeouts } : {}),
            });
            this.counters.connections++;
            return connection;
          } catch (error) {
            const failure =
              error instanceof SmtpClientError
                ? error
                : new SmtpClientError({ code: 'LOCAL', phase: 'connect', message: String(error) });
            last = { error: failure, target: { ...target, ip } };
            this.#deps.log('debug', 'connection failed', {
              destination: this.key,
              ip,
              code: failure.code,
              phase: failure.phase,
            });
            // Opportunistic TLS that fails is retried once in plaintext, as MTAs do.
            if (failure.code === 'TLS_FAILED' && tls === 'may') {
              tls = 'none';
              continue;
            }
            break;
          }
        }
      }
    }
    return last;
  }

  #siteFailure(
    job: DeliveryJob,
    error: SmtpClientError,
    startedAt: number,
    target?: ConnectTarget & { ip: string },
  ): RecipientOutcome[] {
    const scope: FailureScope = 'site';
    return outcomesFromError(
      job,
      error,
      {
        startedAt,
        finishedAt: this.#deps.now(),
        route: this.#plan.route,
        ...(target ? { target: { mxHost: target.mxHost, ip: target.ip, port: target.port } } : {}),
      },
      scope,
    );
  }

  #backOff(error: SmtpClientError, target?: ConnectTarget & { ip: string }): void {
    const pause = Math.max(this.#deps.rule.pauseAfterFailureMs, 1000);
    this.#backoff = { until: this.#deps.now() + pause, error, ...(target ? { target } : {}) };
    this.#deps.log('warn', 'destination unreachable; backing off', {
      destination: this.key,
      code: error.code,
      ms: pause,
    });
  }

  #afterMessage(outcomes: readonly RecipientOutcome[]): void {
    const rule = this.#deps.rule;
    const sessionTrouble = outcomes.some(
      (o) => o.kind === 'deferred' && (o.scope === 'session' || o.scope === 'site'),
    );
    if (sessionTrouble && rule.pauseAfterFailureMs > 0) {
      this.#pausedUntil = this.#deps.now() + rule.pauseAfterFailureMs;
      this.#consecutive = 0;
      return;
    }
    if (outcomes.some((o) => o.kind === 'delivered')) {
      this.#consecutive++;
      if (rule.pauseAfterDeliveries > 0 && this.#consecutive >= rule.pauseAfterDeliveries) {
        this.#consecutive = 0;
        this.#pausedUntil = this.#deps.now() + rule.pauseMs;
      }
    }
  }

  async #rateSlot(): Promise<void> {
    const perMinute = this.#deps.rule.messagesPerMinute;
    if (perMinute <= 0) return;
    const interval = 60_000 / perMinute;
    const now = this.#deps.now();
    const slot = Math.max(now, this.#nextSlot);
    this.#nextSlot = slot + interval;
    if (slot > now) await new Promise((resolve) => setTimeout(resolve, slot - now));
  }

  #takeIdle(): SmtpConnection | undefined {
    while (this.#idle.length > 0) {
      const { connection, timer } = this.#idle.pop()!;
      clearTimeout(timer);
      if (connection.usable) return connection;
    }
    return undefined;
  }

  #park(connection: SmtpConnection): void {
    const entry = {
      connection,
      timer: setTimeout(() => {
        const at = this.#idle.indexOf(entry);
        if (at >= 0) this.#idle.splice(at, 1);
        void connection.quit();
      }, this.#deps.idleMs),
    };
    entry.timer.unref();
    this.#idle.push(entry);
  }
}
