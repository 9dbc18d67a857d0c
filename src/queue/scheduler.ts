/**
 * The queue: hands due recipients to delivery and records what became of them.
 *
 * Two ways in. The fast path: a message just committed (its recipients leased to
 * this node at commit time) is turned into jobs at once, without a database poll.
 * The slow path: a poll loop claims due recipients from the spool in batches
 * (retries, recipients left by a restart or another node's expired lease), skipping
 * domains whose destination is backed off or already has plenty waiting, so one
 * slow site never starves the others and memory stays bounded however long the
 * backlog is.
 *
 * Outcomes become per-recipient updates (delivered, deferred with the next attempt
 * from the retry policy, bounced, expired) stored atomically with their events;
 * permanent failures and expiries then produce one RFC 3464 report per message.
 */
import type { EnvelopeInput } from '../contracts/envelope.ts';
import type { Classification, LifecycleEvent } from '../contracts/events.ts';
import type { ClaimedRecipient, RecipientUpdate, Spool, StoredRecipient } from '../contracts/spool.ts';
import type { Attempt, SmtpReply } from '../contracts/status.ts';
import type { DeliveryJob, JobRecipient, RecipientOutcome } from '../delivery/job.ts';
import { type DeliveryReport, failuresDue, noticesDue, type Settled } from './reports.ts';
import { nextRetry, type RetryPolicy } from './retry-policy.ts';

export interface SchedulerDeps {
  readonly spool: Spool;
  readonly engine: {
    deliver(job: DeliveryJob): Promise<RecipientOutcome[]>;
    backedOffUntil(domain: string): number;
    /** Jobs waiting at the domain's destination. */
    queuedFor(domain: string): number;
    /** Domains with at least `maxQueued` jobs waiting at their destination. */
    busyDomains(maxQueued: number): Set<string>;
  };
  readonly owner: string;
  readonly policy: RetryPolicy;
  /** Hard/soft and category of a failure, stored with bounced and deferred events. */
  readonly classify?: (input: { reply?: SmtpReply; errorCode?: string }) => Classification;
  /** Called after outcomes were stored, with the notifications due (failures, delays, successes). Must not throw. */
  readonly onReport?: (report: DeliveryReport) => Promise<void>;
  readonly now: () => number;
  readonly log: (
    level: 'debug' | 'info' | 'warn' | 'error',
    message: string,
    fields?: Record<string, unknown>,
  ) => void;
  readonly leaseMs?: number;
  readonly claimBatch?: number;
  readonly maxInFlight?: number;
  readonly pollMs?: number;
  /** Stop claiming for a domain while its destination has this many jobs waiting. */
  readonly maxQueuedPerDomain?: number;
  /** Message age at which recipients without a NOTIFY get one delay warning (0 or absent: never). */
  readonly delayWarningAfterMs?: number;
}

export class Scheduler {
  #deps: SchedulerDeps;
  #inFlight = new Set<string>();
  /** Jobs under way, and who waits for them all to finish (stop). */
  #running = 0;
  #idleWaiters: (() => void)[] = [];
  #timer: NodeJS.Timeout | undefined;
  #polling = false;
  #stopped = false;
  #pollAgain = false;

  constructor(deps: SchedulerDeps) {
    this.#deps = deps;
  }

  get inFlight(): number {
    return this.#inFlight.size;
  }

  start(): void {
    this.#schedule(0);
  }

  /** Fast path for a message that was just committed with its recipients leased to us. */
  admit(messageId: string, receivedAt: number, size: number, envelope: EnvelopeInput): void {
    if (this.#stopped) return;
    const recipients: ClaimedRecipient[] = envelope.recipients.map((r, index) => ({
      messageId,
      index,
      address: r.address,
      domain: domainOf(r.address),
      ...(r.notify !== undefined ? { notify: r.notify } : {}),
      ...(r.orcpt !== undefined ? { orcpt: r.orcpt } : {}),
      status: 'queued',
      attempts: 0,
      nextAttemptAt: receivedAt,
      updatedAt: receivedAt,
      held: false,
      receivedAt,
      mailFrom: envelope.mailFrom,
      size,
    }));
    // Past the in-flight budget, or with the destination already backed up, the message
    // waits in the spool like any other (memory stays bounded however fast mail arrives).
    const full = this.#inFlight.size + recipients.length > (this.#deps.maxInFlight ?? 20_000);
    const backedUp = recipients.some(
      (r) => this.#deps.engine.queuedFor(r.domain) >= (this.#deps.maxQueuedPerDomain ?? 2000),
    );
    if (full || backedUp) {
      const keys = recipients.map((r) => ({ messageId, index: r.index }));
      this.#deps.spool.release(this.#deps.owner, keys).then(
        () => this.#schedule(this.#deps.pollMs ?? 1000),
        (error) =>
          this.#deps.log('warn', 'could not give back a lease; it expires on its own', {
            messageId,
            error: String(error),
          }),
      );
      return;
    }
    this.#dispatch(recipients, new Map([[messageId, envelope]]));
  }

  /** Wakes the poll loop now (operator "retry now", tests). */
  poke(): void {
    this.#schedule(0);
  }

  /** Stops claiming, waits for running jobs up to `timeoutMs`, then gives back what is left. */
  async stop(timeoutMs: number): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    const all = new Promise<void>((resolve) => {
      if (this.#running === 0) resolve();
      else this.#idleWaiters.push(resolve);
    });
    await Promise.race([all, new Promise((resolve) => setTimeout(resolve, timeoutMs).unref())]);
  }

  #schedule(delay: number): void {
    if (this.#stopped) return;
    if (this.#polling) {
      this.#pollAgain = this.#pollAgain || delay === 0;
      return;
    }
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => void this.#poll(), delay);
    this.#timer.unref();
  }

  async #poll(): Promise<void> {
    if (this.#stopped) return;
    this.#polling = true;
    this.#pollAgain = false;
    let full = false;
    try {
      const max = this.#deps.maxInFlight ?? 20_000;
      const room = Math.min(this.#deps.claimBatch ?? 500, max - this.#inFlight.size);
      if (room > 0) {
        const now = this.#deps.now();
        const claimed = await this.#deps.spool.claimDue({
          owner: this.#deps.owner,
          now,
          limit: room,
          leaseMs: this.#deps.leaseMs ?? 30 * 60_000,
          excludeDomains: this.#deps.engine.busyDomains(this.#deps.maxQueuedPerDomain ?? 2000),
        });
        const fresh = claimed.filter((r) => !this.#inFlight.has(key(r.messageId, r.index)));
        full = claimed.length === room;
        if (fresh.length > 0) {
          const envelopes = new Map<string, EnvelopeInput>();
          for (const id of new Set(fresh.map((r) => r.messageId))) {
            const message = await this.#deps.spool.getMessage(id);
            if (message) envelopes.set(id, message.envelope);
          }
          this.#dispatch(
            fresh.filter((r) => envelopes.has(r.messageId)),
            envelopes,
          );
        }
      }
    } catch (error) {
      this.#deps.log('error', 'queue poll failed', { error: String(error) });
    } finally {
      this.#polling = false;
      this.#schedule(full || this.#pollAgain ? 0 : (this.#deps.pollMs ?? 1000));
    }
  }

  #dispatch(recipients: readonly ClaimedRecipient[], envelopes: ReadonlyMap<string, EnvelopeInput>): void {
    const jobs = new Map<string, { first: ClaimedRecipient; list: ClaimedRecipient[] }>();
    for (const r of recipients) {
      this.#inFlight.add(key(r.messageId, r.index));
      const k = `${r.messageId}\0${r.domain}`;
      const entry = jobs.get(k);
      if (entry) entry.list.push(r);
      else jobs.set(k, { first: r, list: [r] });
    }
    for (const { first, list } of jobs.values()) {
      const envelope = envelopes.get(first.messageId)!;
      const job: DeliveryJob = {
        messageId: first.messageId,
        receivedAt: first.receivedAt,
        mailFrom: envelope.mailFrom,
        size: first.size,
        bodyType: envelope.bodyType,
        smtputf8: envelope.smtputf8,
        ...(envelope.ret !== undefined ? { ret: envelope.ret } : {}),
        ...(envelope.envid !== undefined ? { envid: envelope.envid } : {}),
        domain: first.domain,
        messageRecipients: envelope.recipients.length,
        recipients: list.map(
          (r): JobRecipient => ({
            index: r.index,
            address: r.address,
            attempts: r.attempts,
            ...(r.attempts > 0 ? { previousAttemptAt: r.updatedAt } : {}),
            ...(r.notify !== undefined ? { notify: r.notify } : {}),
            ...(r.orcpt !== undefined ? { orcpt: r.orcpt } : {}),
          }),
        ),
      };
      this.#running++;
      void this.#run(job);
    }
  }

  async #run(job: DeliveryJob): Promise<void> {
    try {
      const outcomes = await this.#deps.engine.deliver(job);
      await this.#record(job, outcomes);
    } catch (error) {
      // The leases run out and the recipients are tried again: nothing is lost.
      this.#deps.log('error', 'recording a delivery outcome failed', {
        messageId: job.messageId,
        error: String(error),
      });
    } finally {
      for (const r of job.recipients) this.#inFlight.delete(key(job.messageId, r.index));
      if (--this.#running === 0) for (const wake of this.#idleWaiters.splice(0)) wake();
    }
  }

  async #record(job: DeliveryJob, outcomes: readonly RecipientOutcome[]): Promise<void> {
    const now = this.#deps.now();
    const updates: RecipientUpdate[] = [];
    const events: LifecycleEvent[] = [];
    const settled: Settled[] = [];
    const base = { seq: 0, at: now, messageId: job.messageId };
    for (const outcome of outcomes) {
      const recipient = job.recipients.find((r) => r.index === outcome.index)!;
      const attemptsBefore = recipient.attempts;
      const common = {
        messageId: job.messageId,
        index: outcome.index,
        lastReply: outcome.reply,
        route: outcome.route,
        ...(outcome.attempt ? { attempt: outcome.attempt } : {}),
        ...(outcome.errorCode ? { lastErrorCode: outcome.errorCode } : {}),
      };
      if (outcome.kind === 'delivered') {
        updates.push({ ...common, status: 'delivered' });
        events.push({ ...base, type: 'delivered', recipient: outcome.address, attempt: outcome.attempt! });
        settled.push({ outcome, status: 'delivered', attemptsBefore });
        continue;
      }
      const classification = this.#classify(outcome);
      if (outcome.kind === 'failed') {
        updates.push({ ...common, status: 'bounced' });
        events.push({
          ...base,
          type: 'bounced',
          recipient: outcome.address,
          reply: outcome.reply,
          ...(outcome.attempt ? { attempt: outcome.attempt } : {}),
          ...(classification ? { classification } : {}),
        });
        settled.push({ outcome, status: 'bounced', attemptsBefore });
        continue;
      }
      const decision = nextRetry(this.#deps.policy, attemptsBefore + 1, job.receivedAt, now);
      if (decision.kind === 'expire') {
        updates.push({ ...common, status: 'expired' });
        events.push({ ...base, type: 'expired', recipient: outcome.address, lastReply: outcome.reply });
        settled.push({ outcome, status: 'expired', attemptsBefore });
        continue;
      }
      const backoff = outcome.scope === 'site' ? this.#deps.engine.backedOffUntil(job.domain) : 0;
      const at = Math.max(decision.at, Math.min(backoff, job.receivedAt + this.#deps.policy.maxQueueTimeMs));
      // A deferral without a connection (DNS trouble) still counts as an attempt, so the intervals grow.
      const attempt = outcome.attempt ?? {
        at: now,
        durationMs: 0,
        route: outcome.route,
        outcome: 'deferred' as const,
        reply: outcome.reply,
        ...(outcome.errorCode ? { errorCode: outcome.errorCode } : {}),
        ...(outcome.scope !== 'none' ? { scope: outcome.scope } : {}),
      };
      updates.push({ ...common, attempt, status: 'deferred', nextAttemptAt: at });
      events.push({
        ...base,
        type: 'deferred',
        recipient: outcome.address,
        nextAttemptAt: at,
        attempt,
        ...(classification ? { classification } : {}),
      });
      settled.push({ outcome: { ...outcome, attempt }, status: 'deferred', attemptsBefore });
    }

    // A failure report covers every failed recipient of the message and goes out once,
    // from the update that finishes the message: the spool decides that inside its
    // transaction, so two jobs of one message settling at once never both (or neither)
    // report. That update also releases the body, so a job likely to report reads it first.
    const reporting = this.#deps.onReport !== undefined && job.mailFrom !== '';
    const whole = job.messageRecipients === job.recipients.length;
    let original: Uint8Array | undefined;
    if (
      reporting &&
      settled.every((x) => x.status !== 'deferred') &&
      (await this.#mayFail(job, settled, whole))
    )
      original = await this.#deps.spool.readBody(job.messageId).catch(() => undefined);
    const notices = reporting ? noticesDue(job, settled, this.#deps.delayWarningAfterMs ?? 0, now) : [];

    // The spool publishes the stored events to live consumers.
    const { finished } = await this.#deps.spool.update(updates, events);
    const soonest = updates.reduce(
      (min, u) => (u.nextAttemptAt !== undefined ? Math.min(min, u.nextAttemptAt) : min),
      Number.POSITIVE_INFINITY,
    );
    if (Number.isFinite(soonest)) this.#wakeAt(soonest);
    if (!reporting) return;

    const finishing = finished.includes(job.messageId);
    if (!finishing && notices.length === 0) return;
    if (finishing && whole && notices.length === 0 && !settled.some(isFailure)) return;
    const message = await this.#deps.spool.getMessage(job.messageId);
    if (!message) return;
    if (finishing) {
      const mine = new Set(job.recipients.map((r) => r.index));
      const others = message.recipients.filter((r) => !mine.has(r.index));
      const failed = failuresDue(settled, others, await this.#lastAttempts(message.id, others));
      // Without the body (another job's failure raced this one), the report carries the stored headers.
      if (failed && failed.length > 0)
        await this.#deps.onReport!({ message, recipients: failed, ...(original ? { original } : {}) });
    }
    if (notices.length > 0) {
      await this.#deps.onReport!({
        message,
        recipients: notices,
        willRetryUntil: job.receivedAt + this.#deps.policy.maxQueueTimeMs,
      });
    }
  }

  /** The last stored attempt of each failed recipient in `others` (none asked, no read). */
  async #lastAttempts(messageId: string, others: readonly StoredRecipient[]): Promise<Map<number, Attempt>> {
    const last = new Map<number, Attempt>();
    if (!others.some((r) => failedStatus(r.status))) return last;
    for (const stored of await this.#deps.spool.attempts(messageId)) last.set(stored.index, stored.attempt);
    return last;
  }

  /** Whether a failure report may follow this (final) job: it failed someone, or another job did. */
  async #mayFail(job: DeliveryJob, settled: readonly Settled[], whole: boolean): Promise<boolean> {
    if (settled.some(isFailure)) return true;
    if (whole) return false;
    const before = await this.#deps.spool.getMessage(job.messageId);
    return before?.recipients.some((r) => failedStatus(r.status)) === true;
  }

  #classify(outcome: RecipientOutcome): Classification | undefined {
    if (outcome.kind === 'delivered' || !this.#deps.classify) return undefined;
    const { severity, category, explanation } = this.#deps.classify({
      reply: outcome.reply,
      ...(outcome.errorCode ? { errorCode: outcome.errorCode } : {}),
    });
    return { severity, category, ...(explanation ? { explanation } : {}) };
  }

  #wakeAt(at: number): void {
    const delay = Math.max(0, at - this.#deps.now());
    if (delay < (this.#deps.pollMs ?? 1000)) {
      const timer = setTimeout(() => this.#schedule(0), delay);
      timer.unref();
    }
  }
}

function failedStatus(status: string): boolean {
  return status === 'bounced' || status === 'expired';
}

function isFailure(s: Settled): boolean {
  return failedStatus(s.status);
}

function key(messageId: string, index: number): string {
  return `${messageId}:${index}`;
}

export function domainOf(address: string): string {
  const at = address.lastIndexOf('@');
  return at < 0 ? '' : address.slice(at + 1).toLowerCase();
}
