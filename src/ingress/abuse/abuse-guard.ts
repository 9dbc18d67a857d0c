/**
 * The SMTP server's abuse controls in one object, shared by all listeners.
 *
 * - AUTH brute force: per-IP and per-user-name failure lockouts (auth-lockout.ts)
 *   and a pause before each failure is answered.
 * - Rates: messages (counted at MAIL) and recipients (counted at RCPT) per minute,
 *   per client IP, per authenticated user and per envelope sender; plus a mailbomb
 *   guard (one sender to one recipient, per hour). Rate limits bind clients that
 *   are untrusted or authenticated; trusted unauthenticated clients (loopback by
 *   default: the injection path benchmarks use) only when `applyToTrusted`.
 * - Sender restrictions: users with `allowedSenders` may use only those senders.
 *
 * An IPv6 client is counted by its /64: one host usually holds a whole /64, and
 * per-address counts would let it rotate through 2^64 addresses.
 *
 * Inputs are UNTRUSTED keys (IPs, names, addresses); every table is bounded
 * (rate-window.ts). Answers are refusals for the session to send: 454 4.7.0 for a
 * lockout, 450 4.7.1 for a rate, 553 5.7.1 for a sender. Nothing throws; time
 * comes from the injected clock, so tests need no waiting.
 */
import { createHash } from 'node:crypto';
import type { AbuseConfig, SmtpUser } from '../../config/types.ts';
import { formatIPv6, parseIPv6 } from '../../protocol/ip.ts';
import { senderAllowed } from './allowed-senders.ts';
import { AuthLockout } from './auth-lockout.ts';
import { type Clock, RateWindow } from './rate-window.ts';

export interface Refusal {
  readonly code: number;
  readonly enhanced: string;
  readonly text: string;
}

/** Who is sending, as the session knows it. */
export interface ClientFacts {
  readonly ip: string;
  readonly trusted: boolean;
  readonly user?: string | undefined;
}

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

export const AUTH_LOCKED: Refusal = {
  code: 454,
  enhanced: '4.7.0',
  text: 'Too many failed authentications, try later',
};
export const SENDER_NOT_ALLOWED: Refusal = {
  code: 553,
  enhanced: '5.7.1',
  text: 'Sender address not allowed for this user',
};

/** The key a client address is counted under: IPv4 as is, IPv6 by its /64. */
export function clientKey(ip: string): string {
  if (!ip.includes(':')) return ip;
  const bytes = parseIPv6(ip);
  if (bytes === undefined) return ip;
  bytes.fill(0, 8);
  return `${formatIPv6(bytes)}/64`;
}

function rateRefusal(what: string): Refusal {
  return { code: 450, enhanced: '4.7.1', text: `Error: ${what} rate limit exceeded, try again later` };
}

interface KeyedRates {
  readonly messages: RateWindow;
  readonly recipients: RateWindow;
}

export class AbuseGuard {
  readonly failureDelayMs: number;
  #applyToTrusted: boolean;
  #ipLockout: AuthLockout;
  #userLockout: AuthLockout;
  #perIp: KeyedRates;
  #perUser: KeyedRates;
  #perSender: KeyedRates;
  #mailbomb: RateWindow;
  #allowedSenders: Map<string, readonly string[]>;

  constructor(config: AbuseConfig, users: readonly SmtpUser[], now: Clock = Date.now) {
    const maxKeys = config.maxTrackedKeys;
    const a = config.auth;
    this.failureDelayMs = a.failureDelayMs;
    this.#applyToTrusted = config.applyToTrusted;
    const lockout = (maxFailures: number): AuthLockout =>
      new AuthLockout({ maxFailures, windowMs: a.failureWindowMs, lockoutMs: a.lockoutMs, maxKeys, now });
    this.#ipLockout = lockout(a.maxFailuresPerIp);
    this.#userLockout = lockout(a.maxFailuresPerUser);
    const rates = (limits: AbuseConfig['perIp']): KeyedRates => ({
      messages: new RateWindow({ windowMs: MINUTE, limit: limits.messagesPerMinute, maxKeys, now }),
      recipients: new RateWindow({ windowMs: MINUTE, limit: limits.recipientsPerMinute, maxKeys, now }),
    });
    this.#perIp = rates(config.perIp);
    this.#perUser = rates(config.perUser);
    this.#perSender = rates(config.perSender);
    this.#mailbomb = new RateWindow({ windowMs: HOUR, limit: config.mailbombPerHour, maxKeys, now });
    this.#allowedSenders = new Map();
    for (const u of users) if (u.allowedSenders) this.#allowedSenders.set(u.username, u.allowedSenders);
  }

  /** Whether AUTH from this IP is refused right now. */
  authLockedIp(ip: string): boolean {
    return this.#ipLockout.locked(clientKey(ip));
  }

  /** Whether AUTH as this user name is refused right now (known or not: no enumeration). */
  authLockedUser(user: string): boolean {
    return this.#userLockout.locked(user);
  }

  /** Records a failed AUTH (`user` undefined when no name could be read); true when a lockout began. */
  authFailed(ip: string, user: string | undefined): boolean {
    const ipLocked = this.#ipLockout.failed(clientKey(ip));
    const userLocked = user !== undefined && user !== '' && this.#userLockout.failed(user);
    return ipLocked || userLocked;
  }

  authSucceeded(user: string): void {
    this.#userLockout.succeeded(user);
  }

  /** A 553 when `user` may not send as `sender` (formatted address, '' for `<>`). */
  checkSender(user: string | undefined, sender: string): Refusal | undefined {
    if (user === undefined) return undefined;
    const patterns = this.#allowedSenders.get(user);
    if (patterns === undefined || senderAllowed(patterns, sender)) return undefined;
    return SENDER_NOT_ALLOWED;
  }

  /** At MAIL: counts one message against the client's limits, or refuses without counting. */
  checkMessage(client: ClientFacts, sender: string): Refusal | undefined {
    if (!this.#applies(client)) return undefined;
    const keys = this.#keys(client, sender);
    for (const [rates, key, what] of keys) if (!rates.messages.allows(key)) return rateRefusal(what);
    for (const [rates, key] of keys) rates.messages.add(key);
    return undefined;
  }

  /** At RCPT: counts one recipient against the limits and the mailbomb guard, or refuses. */
  checkRecipient(client: ClientFacts, sender: string, recipient: string): Refusal | undefined {
    if (!this.#applies(client)) return undefined;
    const keys = this.#keys(client, sender);
    for (const [rates, key, what] of keys) if (!rates.recipients.allows(key)) return rateRefusal(what);
    // Hashed: a pair of addresses can be 500 octets, a digest is 22 characters (memory bound).
    const pair = createHash('sha256')
      .update(`${sender.toLowerCase()}\0${recipient.toLowerCase()}`)
      .digest('base64url')
      .slice(0, 22);
    if (!this.#mailbomb.allows(pair)) return rateRefusal('per-recipient message');
    for (const [rates, key] of keys) rates.recipients.add(key);
    this.#mailbomb.add(pair);
    return undefined;
  }

  #applies(client: ClientFacts): boolean {
    return !client.trusted || client.user !== undefined || this.#applyToTrusted;
  }

  #keys(client: ClientFacts, sender: string): Array<[KeyedRates, string, string]> {
    const keys: Array<[KeyedRates, string, string]> = [[this.#perIp, clientKey(client.ip), 'client']];
    if (client.user !== undefined) keys.push([this.#perUser, client.user, 'user']);
    if (sender !== '') keys.push([this.#perSender, sender.toLowerCase(), 'sender']);
    return keys;
  }
}
