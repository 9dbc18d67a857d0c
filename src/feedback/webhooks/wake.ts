/**
 * Small timing pieces of the webhook dispatcher: a wake-up latch and the retry delay.
 *
 * `Wake.wait(ms)` resolves after `ms`, or at once when `notify()` was called since
 * the previous wait (a notification is never lost while the waiter is busy), or
 * when `close()` was called. `retryDelay` is exponential backoff with jitter: the
 * n-th failure in a row waits between half and all of `base * 2^(n-1)`, capped.
 * No I/O, no untrusted input; nothing here throws.
 */

export class Wake {
  #pending = false;
  #closed = false;
  #release: (() => void) | undefined;

  notify(): void {
    this.#pending = true;
    this.#release?.();
  }

  close(): void {
    this.#closed = true;
    this.#release?.();
  }

  get closed(): boolean {
    return this.#closed;
  }

  async wait(ms: number): Promise<void> {
    if (this.#pending || this.#closed) {
      this.#pending = false;
      return;
    }
    const { promise, resolve } = Promise.withResolvers<void>();
    const timer = setTimeout(resolve, Math.max(0, ms));
    this.#release = resolve;
    try {
      await promise;
    } finally {
      clearTimeout(timer);
      this.#release = undefined;
      this.#pending = false;
    }
  }
}

/** Milliseconds to wait after the `attempts`-th failure in a row (1-based). */
export function retryDelay(attempts: number, baseMs: number, capMs: number, random: () => number): number {
  const exponent = Math.min(Math.max(0, attempts - 1), 40);
  const ceiling = Math.min(capMs, baseMs * 2 ** exponent);
  return Math.round(ceiling * (0.5 + random() / 2));
}
