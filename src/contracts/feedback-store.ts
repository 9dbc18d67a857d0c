/**
 * The feedback store: durable state of the feedback stage, kept apart from the spool.
 *
 * Types only. Holds the suppression list and one delivery cursor per webhook. The
 * embedded backend is feedback/store/sqlite-feedback-store.ts (`<dataDir>/feedback.sqlite`);
 * a PostgreSQL backend can follow with the same shape: every method is async, each
 * call is atomic on its own, nothing depends on SQLite's synchronous API.
 *
 * Contract every backend keeps:
 *  - A write resolves only after it is durable (synced).
 *  - Addresses are keys as given; callers normalise them (feedback/suppression.ts).
 *  - Failures reject with an Error; nothing is retried inside the store.
 */

export interface SuppressionEntry {
  /** Normalised `local@domain` (see feedback/suppression.ts `suppressionKey`). */
  readonly address: string;
  /** Why: the remote server's bounce text, or what the operator wrote. */
  readonly reason: string;
  /** The message whose hard bounce added it; absent for operator entries. */
  readonly messageId?: string;
  /** Epoch ms. */
  readonly createdAt: number;
  /** Epoch ms after which the entry no longer applies; absent = never lapses. */
  readonly expiresAt?: number;
}

export interface SuppressionPage {
  /** Entries with address > this (exclusive), in address order. */
  readonly after?: string;
  readonly limit: number;
  /** Leave out entries lapsed at this time (epoch ms). */
  readonly activeAt?: number;
}

/** Where one webhook stands: everything up to `lastSeq` has been delivered (2xx). */
export interface WebhookCursor {
  readonly webhookId: string;
  /** Seq of the last event delivered or skipped by the filter; 0 = none yet. */
  readonly lastSeq: number;
  /** Failed attempts in a row for the event after `lastSeq`; 0 after a success. */
  readonly attempts: number;
  /** Epoch ms before which the next attempt waits (backoff); 0 = at once. */
  readonly nextAttemptAt: number;
  /** Operator-facing text of the last failure; cleared by a success. */
  readonly lastError?: string;
  /** Epoch ms of the last 2xx. */
  readonly lastSuccessAt?: number;
  readonly updatedAt: number;
}

export interface FeedbackStore {
  /** Opens storage and runs migrations. */
  open(): Promise<void>;
  close(): Promise<void>;

  getSuppression(address: string): Promise<SuppressionEntry | undefined>;
  /** Inserts or replaces entries in one transaction; resolves to how many were new. */
  putSuppressions(entries: readonly SuppressionEntry[]): Promise<number>;
  /** True when an entry was removed. */
  deleteSuppression(address: string): Promise<boolean>;
  /** One page in address order. */
  listSuppressions(page: SuppressionPage): Promise<SuppressionEntry[]>;
  /** Removes entries lapsed at `now`; resolves to the number removed. */
  deleteExpiredSuppressions(now: number): Promise<number>;

  getCursor(webhookId: string): Promise<WebhookCursor | undefined>;
  putCursor(cursor: WebhookCursor): Promise<void>;
}
