/**
 * The messages between the main thread and the SMTP ingress thread
 * (ingress-thread.ts on the main side, ingress-worker.ts in the thread).
 *
 * Types only. Everything crosses by structured clone; nothing here comes from a peer
 * except what the sessions already checked (message ids are our own).
 */
import type { MessagePort } from 'node:worker_threads';
import type { Config } from '../config/types.ts';
import type { SuppressionEntry } from '../contracts/feedback-store.ts';
import type { SuppressionChange } from '../feedback/suppression.ts';
import type { SyncOutcome } from '../feedback/sync-waiters.ts';

/** What the thread starts with (`workerData`; the spool port is transferred). */
export interface IngressWorkerData {
  readonly config: Config;
  readonly tls: { readonly key: string; readonly cert: string };
  /** A client port of the spool (SqliteSpool.attachClient). */
  readonly spool: MessagePort;
  /** Owner the new recipients are leased to at commit (the main thread's queue). */
  readonly claimFor: { readonly owner: string; readonly leaseMs: number };
  readonly suppression: readonly SuppressionEntry[];
}

export interface ListenerInfo {
  readonly name: string;
  readonly address: string;
  readonly port: number;
}

/** Main thread -> ingress thread. */
export type ToIngress =
  | { readonly type: 'suppression'; readonly change: SuppressionChange }
  | { readonly type: 'sync-outcome'; readonly ask: number; readonly outcome: SyncOutcome }
  | { readonly type: 'close' }
  | { readonly type: 'drain'; readonly timeoutMs: number };

/** Ingress thread -> main thread. */
export type FromIngress =
  | { readonly type: 'ready'; readonly listeners: readonly ListenerInfo[] }
  | { readonly type: 'failed'; readonly error: string }
  | { readonly type: 'stats'; readonly connections: number; readonly acceptLatenciesMs: readonly number[] }
  | { readonly type: 'sync-ask'; readonly ask: number; readonly messageId: string; readonly budgetMs: number }
  | { readonly type: 'sync-answered'; readonly messageId: string; readonly refusal: boolean }
  | { readonly type: 'closed' }
  | { readonly type: 'drained' };
