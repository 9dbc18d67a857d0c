/**
 * The suppression list: addresses we refuse at RCPT because mail to them bounced
 * hard (or an operator said so).
 *
 * In: a FeedbackStore (durable copy), the `feedback.suppression` config, bounce
 * events, operator edits (HTTP API) and import files. Out: a synchronous `check()`
 * for the SMTP RCPT path served from an in-memory index loaded by `load()`, the
 * RCPT refusal to give (`refusalFor`), and a `suppression-added` event (through
 * `onAdded`) for each address added by a bounce or an operator (imports add none:
 * they are bulk).
 *
 * Keys are case-insensitive over the whole address (`suppressionKey`): most
 * mailbox providers ignore case in local parts, and a list that missed `John@` after
 * `john@` bounced would not protect the sender's reputation. `enabled: false` turns
 * off enforcement and automatic additions; the list stays editable.
 *
 * Operator input (API bodies, import files) is UNTRUSTED: addresses are validated
 * with protocol/address.ts, sizes are capped, and a bad import line rejects the
 * whole import with line-numbered problems (nothing is stored). Store failures
 * reject; the index only changes after the store has the change.
 */
import type { FeedbackConfig } from '../config/types.ts';
import type { BouncedEvent, SuppressionAddedEvent } from '../contracts/events.ts';
import type { FeedbackStore, SuppressionEntry } from '../contracts/feedback-store.ts';
import { formatMailbox, parseMailbox } from '../protocol/address.ts';
import { parseImport, type SuppressionFormat, toCsvLine } from './suppression-files.ts';

export type { SuppressionFormat } from './suppression-files.ts';

/** Longest reason kept; bounce texts are cut here. */
export const MAX_REASON = 1000;
/** Default cap on entries (index memory is roughly 200 bytes per entry). */
export const DEFAULT_MAX_ENTRIES = 1_000_000;
const PAGE = 1000;

export type SuppressionErrorCode = 'INVALID_ADDRESS' | 'INVALID_INPUT' | 'LIST_FULL';

export class SuppressionError extends Error {
  readonly code: SuppressionErrorCode;
  /** Line-numbered problems of a rejected import (at most 20). */
  readonly problems: readonly string[];

  constructor(code: SuppressionErrorCode, message: string, problems: readonly string[] = []) {
    super(message);
    this.name = 'SuppressionError';
    this.code = code;
    this.problems = problems;
  }
}

/** The lookup key of an address already in envelope form (`local@domain`). */
export function suppressionKey(address: string): string {
  return address.toLowerCase();
}

/**
 * The RCPT-path lookup shared by the list and its mirrors (suppression-mirror.ts): the
 * active entry for `address` (envelope form) in `index`, or undefined. A lapsed entry
 * is dropped from the index as it is found.
 */
export function activeEntry(
  index: Map<string, SuppressionEntry>,
  address: string,
  now: number,
): SuppressionEntry | undefined {
  if (index.size === 0) return undefined;
  const key = suppressionKey(address);
  const entry = index.get(key);
  if (entry?.expiresAt !== undefined && entry.expiresAt <= now) {
    index.delete(key);
    return undefined;
  }
  return entry;
}

/** Validates operator-given text as an RFC 5321 mailbox and returns its key. */
export function addressKey(text: string): string {
  const parsed = parseMailbox(text.trim(), { allowUtf8: true });
  if (!parsed.ok) throw new SuppressionError('INVALID_ADDRESS', `"${text}": ${parsed.message}`);
  return suppressionKey(formatMailbox(parsed.value));
}

/**
 * True for a bounce that should suppress the address: classified `hard`, or when
 * unclassified a 5xx reply with an RFC 3463 5.1.x (addressing) enhanced code.
 */
export function isHardBounce(event: BouncedEvent): boolean {
  if (event.classification) return event.classification.severity === 'hard';
  const { code, enhanced } = event.reply;
  return code >= 500 && code < 600 && enhanced !== undefined && /^5\.1\.\d{1,3}$/.test(enhanced);
}

export interface Refusal {
  readonly code: 550;
  /** 5.1.1 (bad mailbox) when a bounce put it there, 5.7.1 (refused by policy) otherwise. */
  readonly enhanced: '5.1.1' | '5.7.1';
  /** One line of printable ASCII, at most ~300 characters, saying why. */
  readonly text: string;
}

function printable(text: string, max: number): string {
  const flat = text
    .replace(/[^\x20-\x7e]+/g, ' ')
    .replace(/ {2,}/g, ' ')
    .trim();
  return flat.length > max ? `${flat.slice(0, max - 3)}...` : flat;
}

function day(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}

/**
 * The RCPT refusal for a suppressed address: what the runtime answers instead of
 * accepting the recipient. The text says why so the sending application can tell a
 * suppression from a remote refusal, e.g.
 * `550 5.1.1 Recipient suppressed: it bounced on 2025-03-01 (550 5.1.1 no such user)`.
 */
export function refusalFor(entry: SuppressionEntry): Refusal {
  const until = entry.expiresAt === undefined ? '' : ` until ${day(entry.expiresAt)}`;
  if (entry.messageId !== undefined) {
    return {
      code: 550,
      enhanced: '5.1.1',
      text: `Recipient suppressed${until}: it bounced on ${day(entry.createdAt)} (${printable(entry.reason, 200)})`,
    };
  }
  return {
    code: 550,
    enhanced: '5.7.1',
    text: `Recipient suppressed by the operator${until} (${printable(entry.reason, 200)})`,
  };
}

/** The SMTP server's recipient check against a suppression list (or its ingress-thread mirror). */
export function refuseSuppressed(list: {
  check(address: string): SuppressionEntry | undefined;
}): (address: string) => Refusal | undefined {
  return (address) => {
    const entry = list.check(address);
    return entry ? refusalFor(entry) : undefined;
  };
}

export interface AddInput {
  readonly address: string;
  readonly reason?: string;
  readonly expiresAt?: number;
  readonly messageId?: string;
}

/** A change to the suppression index: entries set (added or replaced) or keys deleted. */
export interface SuppressionChange {
  readonly set?: readonly SuppressionEntry[];
  readonly delete?: readonly string[];
}

export interface SuppressionListOptions {
  readonly store: FeedbackStore;
  readonly config: FeedbackConfig['suppression'];
  /** Called for every address added by a bounce or an operator (not by an import). */
  readonly onAdded?: (event: SuppressionAddedEvent) => void | Promise<void>;
  /** Where failures of `onAdded` go (the entry itself is stored already). */
  readonly onError?: (error: unknown) => void;
  readonly maxEntries?: number;
  readonly now?: () => number;
}

export class SuppressionList {
  readonly #store: FeedbackStore;
  readonly #enabled: boolean;
  readonly #ttlMs: number;
  readonly #onAdded: SuppressionListOptions['onAdded'];
  readonly #onError: (error: unknown) => void;
  readonly #maxEntries: number;
  readonly #now: () => number;
  readonly #index = new Map<string, SuppressionEntry>();
  readonly #watchers = new Set<(change: SuppressionChange) => void>();

  constructor(options: SuppressionListOptions) {
    this.#store = options.store;
    this.#enabled = options.config.enabled;
    this.#ttlMs = options.config.ttlMs;
    this.#onAdded = options.onAdded;
    this.#onError = options.onError ?? (() => {});
    this.#maxEntries = options.maxEntries ?? DEFAULT_MAX_ENTRIES;
    this.#now = options.now ?? Date.now;
  }

  get enabled(): boolean {
    return this.#enabled;
  }

  /** Entries in the index (lapsed ones linger until looked up or purged). */
  get size(): number {
    return this.#index.size;
  }

  /**
   * Every entry the index holds now (a mirror's starting point), and from then on each
   * change to it (`watch`): what other threads need to answer `check` themselves
   * (suppression-mirror.ts). Lapsed entries are not announced: a mirror checks expiry.
   */
  snapshot(): SuppressionEntry[] {
    return [...this.#index.values()];
  }

  /** Calls `watcher` after each add, remove or import; returns the function that stops it. */
  watch(watcher: (change: SuppressionChange) => void): () => void {
    this.#watchers.add(watcher);
    return () => this.#watchers.delete(watcher);
  }

  #changed(change: SuppressionChange): void {
    for (const watcher of this.#watchers) {
      try {
        watcher(change);
      } catch (error) {
        this.#onError(error);
      }
    }
  }

  /** Fills the index from the store (active entries only). Call once before serving. */
  async load(): Promise<void> {
    this.#index.clear();
    const now = this.#now();
    let after: string | undefined;
    for (;;) {
      const page = await this.#store.listSuppressions({
        limit: PAGE,
        activeAt: now,
        ...(after ? { after } : {}),
      });
      for (const entry of page) this.#index.set(entry.address, entry);
      if (page.length < PAGE) return;
      after = page[page.length - 1]!.address;
    }
  }

  /**
   * The RCPT-path lookup, synchronous and O(1): the active entry for `address`
   * (envelope form), or undefined. Always undefined while suppression is disabled.
   */
  check(address: string): SuppressionEntry | undefined {
    return this.#enabled ? activeEntry(this.#index, address, this.#now()) : undefined;
  }

  /** Adds or replaces one entry (operator or bounce); emits `suppression-added` when it was not active. */
  async add(input: AddInput): Promise<{ entry: SuppressionEntry; created: boolean }> {
    const address = addressKey(input.address);
    const reason = input.reason ?? 'added by the operator';
    if (reason.length > MAX_REASON) {
      throw new SuppressionError('INVALID_INPUT', `reason: at most ${MAX_REASON} characters`);
    }
    const entry: SuppressionEntry = {
      address,
      reason,
      createdAt: this.#now(),
      ...(input.messageId === undefined ? {} : { messageId: input.messageId }),
      ...(input.expiresAt === undefined ? {} : { expiresAt: input.expiresAt }),
    };
    const wasActive = this.#active(address);
    if (!wasActive && !this.#index.has(address) && this.#index.size >= this.#maxEntries) {
      throw new SuppressionError(
        'LIST_FULL',
        `the suppression list holds its maximum of ${this.#maxEntries}`,
      );
    }
    await this.#store.putSuppressions([entry]);
    this.#index.set(address, entry);
    this.#changed({ set: [entry] });
    if (!wasActive) await this.#emit(entry);
    return { entry, created: !wasActive };
  }

  async remove(address: string): Promise<boolean> {
    const key = addressKey(address);
    const removed = await this.#store.deleteSuppression(key);
    this.#index.delete(key);
    this.#changed({ delete: [key] });
    return removed;
  }

  /** The active entry for operator-given text (validated), or undefined. */
  async get(address: string): Promise<SuppressionEntry | undefined> {
    const entry = await this.#store.getSuppression(addressKey(address));
    return entry && (entry.expiresAt === undefined || entry.expiresAt > this.#now()) ? entry : undefined;
  }

  /** One page of active entries in address order; `next` is the `after` of the following page. */
  async list(page: { after?: string; limit: number }): Promise<{ items: SuppressionEntry[]; next?: string }> {
    const limit = Math.max(1, Math.min(PAGE, Math.floor(page.limit)));
    const rows = await this.#store.listSuppressions({
      limit: limit + 1,
      activeAt: this.#now(),
      ...(page.after === undefined ? {} : { after: suppressionKey(page.after) }),
    });
    const items = rows.slice(0, limit);
    return rows.length > limit ? { items, next: items[items.length - 1]!.address } : { items };
  }

  /**
   * Stores every entry of a CSV or JSON-lines text in one transaction, or none:
   * any bad line rejects with `INVALID_INPUT` and the problems by line number.
   */
  async import(text: string, format: SuppressionFormat): Promise<{ added: number; updated: number }> {
    const now = this.#now();
    const parsed = parseImport(text, format, {
      key: addressKey,
      now,
      maxReason: MAX_REASON,
      maxRecords: this.#maxEntries,
    });
    if (parsed.problemCount > 0) {
      const message = `import refused: ${parsed.problemCount} problem(s), nothing stored`;
      throw new SuppressionError('INVALID_INPUT', message, parsed.problems);
    }
    const fresh = parsed.entries.filter((e) => !this.#index.has(e.address)).length;
    if (this.#index.size + fresh > this.#maxEntries) {
      throw new SuppressionError(
        'LIST_FULL',
        `the import would exceed the maximum of ${this.#maxEntries} entries`,
      );
    }
    const added = await this.#store.putSuppressions(parsed.entries);
    for (const entry of parsed.entries) this.#index.set(entry.address, entry);
    this.#changed({ set: parsed.entries });
    return { added, updated: parsed.entries.length - added };
  }

  /** Every active entry as lines of CSV (with a header) or JSON lines, each ending in `\n`. */
  async *export(format: SuppressionFormat): AsyncGenerator<string> {
    if (format === 'csv') yield 'address,reason,message_id,created_at,expires_at\n';
    const now = this.#now();
    let after: string | undefined;
    for (;;) {
      const page = await this.#store.listSuppressions({
        limit: PAGE,
        activeAt: now,
        ...(after ? { after } : {}),
      });
      for (const e of page) {
        yield format === 'csv'
          ? toCsvLine([
              e.address,
              e.reason,
              e.messageId ?? '',
              new Date(e.createdAt).toISOString(),
              e.expiresAt === undefined ? '' : new Date(e.expiresAt).toISOString(),
            ])
          : `${JSON.stringify(e)}\n`;
      }
      if (page.length < PAGE) return;
      after = page[page.length - 1]!.address;
    }
  }

  /**
   * Suppresses the recipient of a hard bounce (see `isHardBounce`) for `ttlMs`
   * (0 = for good) with the remote reply as the reason. Resolves to the new entry,
   * or undefined when the bounce does not qualify, suppression is disabled, or the
   * list is full (a full list must not break bounce handling).
   */
  async onBounced(event: BouncedEvent): Promise<SuppressionEntry | undefined> {
    if (!this.#enabled || !isHardBounce(event)) return undefined;
    const { code, enhanced, text } = event.reply;
    const reason = `${code}${enhanced ? ` ${enhanced}` : ''} ${text}`.slice(0, MAX_REASON);
    try {
      const { entry } = await this.add({
        address: event.recipient,
        reason,
        messageId: event.messageId,
        ...(this.#ttlMs > 0 ? { expiresAt: this.#now() + this.#ttlMs } : {}),
      });
      return entry;
    } catch (error) {
      if (error instanceof SuppressionError) {
        this.#onError(error);
        return undefined;
      }
      throw error;
    }
  }

  /** Deletes lapsed entries from the store and the index; resolves to how many the store had. */
  async purgeExpired(): Promise<number> {
    const now = this.#now();
    const removed = await this.#store.deleteExpiredSuppressions(now);
    for (const [key, entry] of this.#index) {
      if (entry.expiresAt !== undefined && entry.expiresAt <= now) this.#index.delete(key);
    }
    return removed;
  }

  #active(key: string): boolean {
    const entry = this.#index.get(key);
    return entry !== undefined && (entry.expiresAt === undefined || entry.expiresAt > this.#now());
  }

  async #emit(entry: SuppressionEntry): Promise<void> {
    if (!this.#onAdded) return;
    const event: SuppressionAddedEvent = {
      type: 'suppression-added',
      seq: 0,
      at: entry.createdAt,
      messageId: entry.messageId ?? '',
      address: entry.address,
      reason: entry.reason,
      ...(entry.expiresAt === undefined ? {} : { expiresAt: entry.expiresAt }),
    };
    try {
      await this.#onAdded(event);
    } catch (error) {
      this.#onError(error);
    }
  }
}
