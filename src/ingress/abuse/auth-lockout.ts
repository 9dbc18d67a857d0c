/**
 * AUTH brute-force lockout: counts failed authentications per key (a client IP or
 * a user name) and locks the key for a while once it failed too often.
 *
 * `failed(key)` records a failure and returns true when that failure locked the
 * key; `locked(key)` says whether AUTH must be refused now; `succeeded(key)`
 * forgets the key's failures. Keys are UNTRUSTED (any name an attacker types), so
 * both the failure counts and the lock table are bounded (LRU eviction; evicting
 * a lock only ends it early). Pure: time comes from the injected clock.
 */
import { type Clock, RateWindow } from './rate-window.ts';

export interface AuthLockoutOptions {
  /** Failures within `windowMs` that lock the key; 0 disables the lockout. */
  readonly maxFailures: number;
  readonly windowMs: number;
  /** How long a locked key stays locked. */
  readonly lockoutMs: number;
  readonly maxKeys: number;
  readonly now: Clock;
}

export class AuthLockout {
  #failures: RateWindow;
  #lockedUntil = new Map<string, number>();
  #options: AuthLockoutOptions;

  constructor(options: AuthLockoutOptions) {
    this.#options = options;
    this.#failures = new RateWindow({
      windowMs: options.windowMs,
      limit: options.maxFailures,
      maxKeys: options.maxKeys,
      now: options.now,
    });
  }

  /** True while `key` is locked out. */
  locked(key: string): boolean {
    const until = this.#lockedUntil.get(key);
    if (until === undefined) return false;
    if (this.#options.now() < until) return true;
    this.#lockedUntil.delete(key);
    return false;
  }

  /** Records a failure; true when the key is locked from now on. */
  failed(key: string): boolean {
    if (this.#options.maxFailures === 0) return false;
    this.#failures.add(key);
    if (this.#failures.count(key) < this.#options.maxFailures) return this.locked(key);
    this.#failures.delete(key);
    this.#lockedUntil.delete(key);
    while (this.#lockedUntil.size >= this.#options.maxKeys) {
      const oldest = this.#lockedUntil.keys().next().value;
      if (oldest === undefined) break;
      this.#lockedUntil.delete(oldest);
    }
    this.#lockedUntil.set(key, this.#options.now() + this.#options.lockoutMs);
    return true;
  }

  /** Forgets the key's failures (a lock in force stays). */
  succeeded(key: string): void {
    this.#failures.delete(key);
  }
}
