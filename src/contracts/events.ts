/**
 * The closed union of lifecycle events.
 *
 * Types only. Every stage reports what happened as one of these; logs, the live
 * stream, webhooks, the dashboard and DSNs all consume the same values. Adding a
 * member is an API change: every `switch` over `type` has a `never` check.
 */
import type { Attempt, SmtpReply } from './status.ts';

interface EventBase {
  /** Monotonic sequence number assigned by the spool when the event is stored (0 before). */
  readonly seq: number;
  /** Epoch ms. */
  readonly at: number;
  readonly messageId: string;
}

/** Hard means retrying will not help; soft means it may. */
export type Severity = 'hard' | 'soft';

export interface Classification {
  readonly severity: Severity;
  /** Stable category key, e.g. `bad-mailbox`, `mailbox-full`, `connection-refused`. */
  readonly category: string;
  /** Plain-language cause and what the sender can do (feedback/explanations.ts). */
  readonly explanation?: { readonly title: string; readonly cause: string; readonly action: string };
}

export interface ReceivedEvent extends EventBase {
  readonly type: 'received';
  readonly from: string;
  readonly recipients: readonly string[];
  readonly size: number;
  readonly origin: { readonly kind: string; readonly clientIp: string; readonly authUser?: string };
}

export interface DeliveredEvent extends EventBase {
  readonly type: 'delivered';
  readonly recipient: string;
  readonly attempt: Attempt;
}

export interface DeferredEvent extends EventBase {
  readonly type: 'deferred';
  readonly recipient: string;
  readonly attempt: Attempt;
  readonly nextAttemptAt: number;
  readonly classification?: Classification;
}

export interface BouncedEvent extends EventBase {
  readonly type: 'bounced';
  readonly recipient: string;
  /** Absent when no connection was made (null MX, NXDOMAIN, policy). */
  readonly attempt?: Attempt;
  readonly reply: SmtpReply;
  readonly classification?: Classification;
}

export interface ExpiredEvent extends EventBase {
  readonly type: 'expired';
  readonly recipient: string;
  readonly lastReply?: SmtpReply;
}

export interface SuppressedEvent extends EventBase {
  readonly type: 'suppressed';
  readonly recipient: string;
  readonly reason: string;
}

export interface CancelledEvent extends EventBase {
  readonly type: 'cancelled';
  readonly recipient: string;
  /**
   * A delivery attempt was under way when the cancel came: the recipient's server may
   * still accept the message, and then a `delivered` event follows and the recipient's
   * status becomes `delivered`.
   */
  readonly inFlight?: true;
}

export interface DsnSentEvent extends EventBase {
  readonly type: 'dsn-sent';
  /** The id of the report message we queued to the sender. */
  readonly dsnMessageId: string;
  readonly action: 'failed' | 'delayed' | 'delivered' | 'expanded' | 'relayed';
  readonly recipients: readonly string[];
}

/**
 * An address was put on the suppression list (feedback/suppression.ts): after a hard
 * bounce (`messageId` is the bounced message) or by an operator (`messageId` is '').
 */
export interface SuppressionAddedEvent extends EventBase {
  readonly type: 'suppression-added';
  readonly address: string;
  readonly reason: string;
  /** Epoch ms when the entry lapses; absent when it never does. */
  readonly expiresAt?: number;
}

export type LifecycleEvent =
  | ReceivedEvent
  | DeliveredEvent
  | DeferredEvent
  | BouncedEvent
  | ExpiredEvent
  | SuppressedEvent
  | CancelledEvent
  | DsnSentEvent
  | SuppressionAddedEvent;

export type LifecycleEventType = LifecycleEvent['type'];

/** Distributes events inside one process (the spool stores them; this fans them out). */
export interface EventSink {
  publish(events: readonly LifecycleEvent[]): void;
}
