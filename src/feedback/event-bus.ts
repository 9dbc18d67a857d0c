/**
 * In-process fan-out of lifecycle events.
 *
 * The spool stores events durably (with their `seq`); this bus hands the same
 * values to live consumers in this process: the log, the live stream, webhooks,
 * waiting sync-delivery sessions, tests. A subscriber that throws is logged and
 * kept; it never breaks the publisher (which is on the delivery or ingress path).
 */
import type { EventSink, LifecycleEvent } from '../contracts/events.ts';

export type EventListener = (event: LifecycleEvent) => void;

export class EventBus implements EventSink {
  #listeners = new Set<EventListener>();
  #onError: (error: unknown) => void;

  constructor(onError: (error: unknown) => void = () => {}) {
    this.#onError = onError;
  }

  publish(events: readonly LifecycleEvent[]): void {
    for (const event of events) {
      for (const listener of this.#listeners) {
        try {
          listener(event);
        } catch (error) {
          this.#onError(error);
        }
      }
    }
  }

  /** Returns the function that unsubscribes. */
  subscribe(listener: EventListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }
}
