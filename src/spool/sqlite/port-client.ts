/**
 * A spool client in another thread: commits over a port the owner front attached
 * (`SqliteSpool.attachClient`), served by the same engine, transaction and sync as
 * the owner's own requests (group commit across threads).
 *
 * In: the port (transferred to this thread). Out: `commit`, the only operation the
 * SMTP ingress thread needs, with the Spool contract's promise: it resolves once the
 * message, its recipients and its events are synced. The committed message is
 * handed over to the owner (`handOver`), which delivers it and publishes its events;
 * so the body is transferred to the engine, not copied, when this thread's buffer
 * holds it whole, and the caller must not use it afterwards. Fails with the same
 * typed errors as the owner front (SPOOL_FULL, SPOOL_IO, SPOOL_CLOSED); every pending
 * commit fails with SPOOL_CLOSED when the port closes.
 */
import type { MessagePort } from 'node:worker_threads';
import type { LifecycleEvent } from '../../contracts/events.ts';
import type { CommitOptions, NewMessage, Spool } from '../../contracts/spool.ts';
import { spoolClosed, spoolIo } from '../../protocol/errors.ts';
import { CallTable } from './call-table.ts';
import { bodyToPost, fromWireError, type ReplyBatch, type Request, withSeqs } from './protocol.ts';
import { checkCommit } from './validate.ts';

interface Pending {
  resolve(seqs: number[]): void;
  reject(error: unknown): void;
}

/** Commits in flight past which new ones fail at once (temporary), as the owner front does. */
const MAX_PENDING = 10_000;

export class SpoolPortClient implements Pick<Spool, 'commit'> {
  readonly #port: MessagePort;
  readonly #pending = new CallTable<Pending>();
  #closed = false;

  constructor(port: MessagePort) {
    this.#port = port;
    port.on('message', (batch: ReplyBatch) => this.#onBatch(batch));
    port.on('close', () => this.#fail());
    // Kept alive only while commits wait for their answer.
    port.unref();
  }

  async commit(message: NewMessage, options?: CommitOptions): Promise<readonly LifecycleEvent[]> {
    try {
      checkCommit(message, options);
    } catch (error) {
      throw spoolIo(error);
    }
    if (this.#closed) throw spoolClosed();
    if (this.#pending.size >= MAX_PENDING) throw spoolIo(new Error('spool overloaded'));
    // Always handed over: the owner delivers this body, this thread is done with it.
    const { body, transfer } = bodyToPost(message.body, 0);
    const { promise, resolve, reject } = Promise.withResolvers<number[]>();
    // Several commits unanswered: the engine may wait a moment for more to share the sync.
    const company = this.#pending.size > 0;
    const id = this.#pending.add({ resolve, reject });
    if (this.#pending.size === 1) this.#port.ref();
    const request: Request = {
      id,
      op: 'commit',
      args: [{ ...message, body }, options],
      handOver: true,
      ...(company ? { company: true } : {}),
    };
    try {
      this.#port.postMessage([request], transfer);
    } catch (error) {
      this.#settle(id);
      throw spoolIo(error);
    }
    return withSeqs(options?.events, await promise);
  }

  /** Stops taking commits; those pending fail with SPOOL_CLOSED. */
  close(): void {
    this.#port.close();
    this.#fail();
  }

  #onBatch(batch: ReplyBatch): void {
    for (const reply of batch.replies) {
      const entry = this.#settle(reply.id);
      if (entry === undefined) continue;
      if (reply.ok) entry.resolve(reply.value as number[]);
      else entry.reject(fromWireError(reply.error));
    }
  }

  #settle(id: number): Pending | undefined {
    const entry = this.#pending.take(id);
    if (this.#pending.size === 0) this.#port.unref();
    return entry;
  }

  #fail(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const id of this.#pending.ids()) this.#settle(id)?.reject(spoolClosed());
  }
}
