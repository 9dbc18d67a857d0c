/**
 * Sync delivery: lets an SMTP session hold its DATA reply until every recipient
 * has a first verdict from its destination (delivered, refused, or deferred), up to
 * a time budget.
 *
 * A message is registered the moment it is committed (before delivery can start,
 * so no event is missed); the session then asks for its outcome. Once the session
 * has answered, `settled(id)` tells the bounce reporter whether the client was
 * handed the refusal in the SMTP reply itself, in which case no report is sent.
 * Entries are removed when settled (refusals are remembered for ten minutes, for a
 * reporter that asks late); nothing here is durable: after a restart everything is
 * reported the normal way.
 */
import type {
  BouncedEvent,
  DeferredEvent,
  DeliveredEvent,
  ExpiredEvent,
  LifecycleEvent,
} from '../contracts/events.ts';

export type FirstVerdict = DeliveredEvent | BouncedEvent | DeferredEvent | ExpiredEvent;

export interface SyncOutcome {
  /** One entry per recipient address that got a verdict within the budget. */
  readonly verdicts: ReadonlyMap<string, FirstVerdict>;
  /** Recipients still without a verdict when the budget ran out. */
  readonly pending: readonly string[];
}

interface Entry {
  readonly recipients: readonly string[];
  readonly verdicts: Map<string, FirstVerdict>;
  wake?: () => void;
  /** Resolves with true when the session replied with the refusal itself. */
  readonly informed: Promise<boolean>;
  inform: (value: boolean) => void;
}

/** How long a delivered refusal is remembered for the bounce reporter. */
const REMEMBER_MS = 10 * 60_000;

export class SyncWaiters {
  #entries = new Map<string, Entry>();
  /** Questions about messages not registered yet (`outcome` with `untilRegistered`). */
  #early = new Map<string, () => void>();
  /** Messages whose refusal went out in the SMTP reply, with when (insertion order = age). */
  #refused = new Map<string, number>();
  #now: () => number;

  constructor(now: () => number = Date.now) {
    this.#now = now;
  }

  /** Called by the event bus for every event. */
  observe(event: LifecycleEvent): void {
    const entry = this.#entries.get(event.messageId);
    if (!entry) return;
    if (
      event.type !== 'delivered' &&
      event.type !== 'bounced' &&
      event.type !== 'deferred' &&
      event.type !== 'expired'
    )
      return;
    if (!entry.verdicts.has(event.recipient)) entry.verdicts.set(event.recipient, event);
    if (entry.verdicts.size >= entry.recipients.length) entry.wake?.();
  }

  /** Registers a sync message at commit time, before delivery starts. */
  register(messageId: string, recipients: readonly string[]): void {
    let inform: (value: boolean) => void = () => {};
    const informed = new Promise<boolean>((resolve) => {
      inform = resolve;
    });
    this.#entries.set(messageId, { recipients, verdicts: new Map(), informed, inform });
    this.#early.get(messageId)?.();
  }

  /**
   * Waits until every recipient has a verdict or the budget runs out. With
   * `untilRegistered`, a message not registered yet is waited for (within the same
   * budget): the question may come from another thread before the registration does.
   */
  async outcome(messageId: string, budgetMs: number, untilRegistered = false): Promise<SyncOutcome> {
    const started = this.#now();
    if (untilRegistered && !this.#entries.has(messageId) && !this.#early.has(messageId)) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, budgetMs);
        this.#early.set(messageId, () => {
          clearTimeout(timer);
          resolve();
        });
      });
      this.#early.delete(messageId);
      budgetMs = Math.max(0, budgetMs - (this.#now() - started));
    }
    const entry = this.#entries.get(messageId);
    if (!entry) return { verdicts: new Map(), pending: [] };
    if (entry.verdicts.size < entry.recipients.length) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, budgetMs);
        entry.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
    return {
      verdicts: new Map(entry.verdicts),
      pending: entry.recipients.filter((r) => !entry.verdicts.has(r)),
    };
  }

  /** The session answered; `refusalDelivered` when its reply was the refusal itself. */
  answered(messageId: string, refusalDelivered: boolean): void {
    const entry = this.#entries.get(messageId);
    if (!entry) return;
    this.#entries.delete(messageId);
    if (refusalDelivered) this.#refused.set(messageId, this.#now());
    entry.inform(refusalDelivered);
  }

  /**
   * For the bounce reporter: undefined when the message is not waited on; otherwise
   * resolves, once the session has answered, with whether the client got the refusal.
   */
  settled(messageId: string): Promise<boolean> | undefined {
    const cutoff = this.#now() - REMEMBER_MS;
    for (const [id, at] of this.#refused) {
      if (at >= cutoff) break;
      this.#refused.delete(id);
    }
    if (this.#refused.has(messageId)) return Promise.resolve(true);
    return this.#entries.get(messageId)?.informed;
  }
}
