/**
 * The event log file: one JSON line per lifecycle event, for operators and log shippers.
 *
 * In: events from the in-process bus (`append`, synchronous and O(1): it only queues
 * the line). Out: `<path>` with lines appended in batches (everything queued within
 * COALESCE_MS of the first queued line is one write), rotated before it would pass `maxBytes`
 * into `<path>.1` ... `<path>.<keep>` (oldest dropped; keep 0 = no old files).
 *
 * Never blocks or throws into the publisher: when the queue holds more than
 * `maxPendingBytes` (a stuck or slow disk) further events are dropped and counted
 * (`dropped`); a failed write or rotation goes to `onError` and the batch is dropped
 * and counted. Not fsynced: the spool is the durable record, this file is a copy.
 * A line is the event as stored (without `seq` while it is 0, i.e. not yet known);
 * events carry no secrets (no passwords, tokens or message bodies) and this module
 * adds nothing to them. No untrusted input is parsed.
 */

import type { FileHandle } from 'node:fs/promises';
import { mkdir, open, rename, rm, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { LifecycleEvent } from '../contracts/events.ts';

export interface EventLogOptions {
  readonly path: string;
  /** Rotate before the file would grow past this. */
  readonly maxBytes: number;
  /** Old files kept: `<path>.1` (newest) to `<path>.<keep>`. */
  readonly keep: number;
  /** Queue limit; beyond it events are dropped. Default 8 MiB. */
  readonly maxPendingBytes?: number;
  readonly onError?: (error: unknown) => void;
}

/** How long the first queued line waits for company before the batch is written (ms). */
const COALESCE_MS = 20;

export function eventLine(event: LifecycleEvent): string {
  if (event.seq > 0) return `${JSON.stringify(event)}\n`;
  const { seq: _unknown, ...rest } = event;
  return `${JSON.stringify(rest)}\n`;
}

export class EventLog {
  readonly #path: string;
  readonly #maxBytes: number;
  readonly #keep: number;
  readonly #maxPending: number;
  readonly #onError: (error: unknown) => void;
  #file: FileHandle | undefined;
  #size = 0;
  #pending: string[] = [];
  #pendingBytes = 0;
  #dropped = 0;
  #draining: Promise<void> | undefined;
  #closed = false;

  constructor(options: EventLogOptions) {
    this.#path = options.path;
    this.#maxBytes = Math.max(1, options.maxBytes);
    this.#keep = Math.max(0, Math.floor(options.keep));
    this.#maxPending = options.maxPendingBytes ?? 8 * 1024 * 1024;
    this.#onError = options.onError ?? (() => {});
  }

  /** Events dropped so far (queue full or a failed write). */
  get dropped(): number {
    return this.#dropped;
  }

  /** Creates the directory and opens the file for appending. Rejects if it cannot. */
  async open(): Promise<void> {
    await mkdir(dirname(this.#path), { recursive: true });
    await this.#openFile();
  }

  append(event: LifecycleEvent): void {
    if (this.#closed) return;
    const line = eventLine(event);
    const bytes = Buffer.byteLength(line);
    if (this.#pendingBytes + bytes > this.#maxPending) {
      this.#dropped++;
      return;
    }
    this.#pending.push(line);
    this.#pendingBytes += bytes;
    this.#draining ??= new Promise<void>((resolve) => setTimeout(resolve, COALESCE_MS)).then(() =>
      this.#drain(),
    );
  }

  /** Resolves once every event appended before the call has been written (or dropped). */
  async flush(): Promise<void> {
    while (this.#draining) await this.#draining;
  }

  /** Writes what is queued, then closes the file; later appends are ignored. */
  async close(): Promise<void> {
    this.#closed = true;
    await this.flush();
    const file = this.#file;
    this.#file = undefined;
    await file?.close();
  }

  async #openFile(): Promise<void> {
    this.#file = await open(this.#path, 'a', 0o640);
    this.#size = (await this.#file.stat()).size;
  }

  async #drain(): Promise<void> {
    try {
      while (this.#pending.length > 0) {
        const lines = this.#pending;
        this.#pending = [];
        this.#pendingBytes = 0;
        try {
          await this.#write(lines);
        } catch (error) {
          this.#onError(error);
        }
      }
    } finally {
      this.#draining = undefined;
    }
  }

  /** Writes lines in chunks that fit the current file, rotating between them. */
  async #write(lines: readonly string[]): Promise<void> {
    let chunk: string[] = [];
    let chunkBytes = 0;
    let i = 0;
    try {
      for (; i < lines.length; i++) {
        const line = lines[i]!;
        const bytes = Buffer.byteLength(line);
        if (this.#size + chunkBytes + bytes > this.#maxBytes && this.#size + chunkBytes > 0) {
          await this.#writeChunk(chunk, chunkBytes);
          chunk = [];
          chunkBytes = 0;
          await this.#rotate();
        }
        chunk.push(line);
        chunkBytes += bytes;
      }
      await this.#writeChunk(chunk, chunkBytes);
    } catch (error) {
      this.#dropped += chunk.length + (lines.length - i);
      throw error;
    }
  }

  async #writeChunk(chunk: readonly string[], bytes: number): Promise<void> {
    if (chunk.length === 0) return;
    if (!this.#file) await this.#openFile();
    const data = Buffer.from(chunk.join(''));
    let offset = 0;
    while (offset < data.length) {
      const { bytesWritten } = await this.#file!.write(data, offset);
      offset += bytesWritten;
    }
    this.#size += bytes;
  }

  async #rotate(): Promise<void> {
    const file = this.#file;
    this.#file = undefined;
    await file?.close();
    if (this.#keep === 0) await rm(this.#path, { force: true });
    else {
      for (let n = this.#keep - 1; n >= 1; n--) {
        if (await exists(`${this.#path}.${n}`)) await rename(`${this.#path}.${n}`, `${this.#path}.${n + 1}`);
      }
      await rename(this.#path, `${this.#path}.1`);
    }
    await this.#openFile();
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}
