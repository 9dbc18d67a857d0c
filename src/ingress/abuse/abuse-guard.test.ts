/**
 * Unit tests for the AbuseGuard (rates, mailbomb guard, AUTH lockouts, sender
 * restrictions) and allowed-sender matching, with an injected clock.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DEFAULT_ABUSE } from '../../config/defaults.ts';
import type { AbuseConfig } from '../../config/types.ts';
import { AbuseGuard, AUTH_LOCKED, clientKey, SENDER_NOT_ALLOWED } from './abuse-guard.ts';
import { senderAllowed } from './allowed-senders.ts';

const OFF = { messagesPerMinute: 0, recipientsPerMinute: 0 };
const BASE: AbuseConfig = { ...DEFAULT_ABUSE, perIp: OFF, perUser: OFF, perSender: OFF, mailbombPerHour: 0 };
const UNTRUSTED = { ip: '192.0.2.1', trusted: false };

function guard(config: Partial<AbuseConfig>, now: () => number = () => 0): AbuseGuard {
  const users = [
    { username: 'shop', passwordHash: 'x', allowedSenders: ['shop.example', 'ceo@corp.example'] },
  ];
  return new AbuseGuard({ ...BASE, ...config }, users, now);
}

describe('AbuseGuard rates', () => {
  it('limits messages per client IP with 450 4.7.1, and recovers a minute later', () => {
    let t = 0;
    const g = guard({ perIp: { messagesPerMinute: 2, recipientsPerMinute: 0 } }, () => t);
    assert.equal(g.checkMessage(UNTRUSTED, 'a@x.example'), undefined);
    assert.equal(g.checkMessage(UNTRUSTED, 'b@x.example'), undefined);
    const refusal = g.checkMessage(UNTRUSTED, 'c@x.example');
    assert.equal(refusal?.code, 450);
    assert.equal(refusal?.enhanced, '4.7.1');
    assert.match(refusal?.text ?? '', /rate limit/);
    assert.equal(g.checkMessage({ ip: '192.0.2.2', trusted: false }, 'a@x.example'), undefined);
    t = 120_000;
    assert.equal(g.checkMessage(UNTRUSTED, 'a@x.example'), undefined);
  });

  it('trusted unauthenticated clients are exempt unless applyToTrusted; authenticated ones are limited', () => {
    const limits = { perIp: { messagesPerMinute: 1, recipientsPerMinute: 0 } };
    const g = guard(limits);
    const trusted = { ip: '127.0.0.1', trusted: true };
    for (let i = 0; i < 50; i++) assert.equal(g.checkMessage(trusted, 'a@x.example'), undefined);
    const authed = { ip: '127.0.0.1', trusted: true, user: 'shop' };
    assert.equal(g.checkMessage(authed, 'a@shop.example'), undefined);
    assert.equal(g.checkMessage(authed, 'a@shop.example')?.code, 450);
    const strict = guard({ ...limits, applyToTrusted: true });
    assert.equal(strict.checkMessage(trusted, ''), undefined);
    assert.equal(strict.checkMessage(trusted, '')?.code, 450);
  });

  it('limits per user and per sender across IPs, and a refused message counts against nothing', () => {
    const g = guard({
      perUser: { messagesPerMinute: 3, recipientsPerMinute: 0 },
      perSender: { messagesPerMinute: 2, recipientsPerMinute: 0 },
    });
    const from = (ip: string, user?: string) => ({ ip, trusted: false, user });
    assert.equal(g.checkMessage(from('192.0.2.1'), 'News@X.example'), undefined);
    assert.equal(g.checkMessage(from('192.0.2.2'), 'news@x.example'), undefined);
    assert.match(g.checkMessage(from('192.0.2.3'), 'news@x.example')?.text ?? '', /sender/);
    assert.equal(g.checkMessage(from('192.0.2.4', 'shop'), 'a@shop.example'), undefined);
    assert.equal(g.checkMessage(from('192.0.2.5', 'shop'), 'b@shop.example'), undefined);
    assert.equal(g.checkMessage(from('192.0.2.6', 'shop'), 'c@shop.example'), undefined);
    assert.match(g.checkMessage(from('192.0.2.7', 'shop'), 'd@shop.example')?.text ?? '', /user/);
    assert.equal(
      g.checkMessage(from('192.0.2.7'), 'd@shop.example'),
      undefined,
      'the refusal was not counted',
    );
  });

  it('limits recipients per minute, and the mailbomb guard one sender to one recipient per hour', () => {
    let t = 0;
    const g = guard({ perIp: { messagesPerMinute: 0, recipientsPerMinute: 5 }, mailbombPerHour: 2 }, () => t);
    assert.equal(g.checkRecipient(UNTRUSTED, 's@x.example', 'v@y.example'), undefined);
    assert.equal(g.checkRecipient(UNTRUSTED, 'S@x.example', 'V@y.example'), undefined);
    const bomb = g.checkRecipient(UNTRUSTED, 's@x.example', 'v@y.example');
    assert.equal(bomb?.code, 450);
    assert.match(bomb?.text ?? '', /per-recipient/);
    assert.equal(g.checkRecipient(UNTRUSTED, 's@x.example', 'w@y.example'), undefined);
    assert.equal(g.checkRecipient(UNTRUSTED, 's@x.example', 'z@y.example'), undefined);
    assert.equal(g.checkRecipient(UNTRUSTED, 'other@x.example', 'v@y.example'), undefined);
    assert.match(g.checkRecipient(UNTRUSTED, 'q@x.example', 'q@y.example')?.text ?? '', /client/);
    t = 2 * 3_600_000; // two hours on: the estimate of the previous hour has aged out
    assert.equal(g.checkRecipient(UNTRUSTED, 's@x.example', 'v@y.example'), undefined);
  });
});

describe('client keys', () => {
  it('counts IPv4 clients by address and IPv6 clients by /64', () => {
    assert.equal(clientKey('192.0.2.7'), '192.0.2.7');
    assert.equal(clientKey('2001:db8:1:2:aaaa::1'), '2001:db8:1:2::/64');
    assert.equal(clientKey('2001:DB8:1:2:ffff:ffff:ffff:ffff'), '2001:db8:1:2::/64');
    assert.equal(clientKey('::1'), '::/64');
    const g = guard({ perIp: { messagesPerMinute: 1, recipientsPerMinute: 0 } });
    assert.equal(g.checkMessage({ ip: '2001:db8:1:2::10', trusted: false }, ''), undefined);
    assert.equal(g.checkMessage({ ip: '2001:db8:1:2::11', trusted: false }, '')?.code, 450);
    assert.equal(g.checkMessage({ ip: '2001:db8:1:3::10', trusted: false }, ''), undefined);
  });
});

describe('AbuseGuard AUTH lockout', () => {
  it('locks the IP after maxFailuresPerIp and the user name after maxFailuresPerUser', () => {
    let t = 0;
    const g = guard(
      { auth: { ...DEFAULT_ABUSE.auth, maxFailuresPerIp: 3, maxFailuresPerUser: 2, lockoutMs: 1000 } },
      () => t,
    );
    assert.equal(g.authFailed('192.0.2.1', 'alice'), false);
    assert.equal(g.authLockedUser('alice'), false);
    assert.equal(g.authFailed('192.0.2.9', 'alice'), true, 'a lockout began');
    assert.equal(g.authLockedUser('alice'), true, 'two IPs, one user name');
    assert.equal(g.authLockedIp('192.0.2.1'), false);
    g.authFailed('192.0.2.1', undefined);
    g.authFailed('192.0.2.1', 'bob');
    assert.equal(g.authLockedIp('192.0.2.1'), true);
    assert.equal(g.authLockedUser('bob'), false);
    assert.deepEqual(AUTH_LOCKED, {
      code: 454,
      enhanced: '4.7.0',
      text: 'Too many failed authentications, try later',
    });
    t = 1000;
    assert.equal(g.authLockedIp('192.0.2.1'), false);
    assert.equal(g.authLockedUser('alice'), false);
  });
});

describe('allowed senders', () => {
  it('users with allowedSenders may use only those domains and addresses; others anything', () => {
    const g = guard({});
    assert.equal(g.checkSender('shop', 'orders@shop.example'), undefined);
    assert.equal(g.checkSender('shop', 'orders@SHOP.example'), undefined);
    assert.equal(g.checkSender('shop', 'ceo@corp.example'), undefined);
    assert.deepEqual(g.checkSender('shop', 'cfo@corp.example'), SENDER_NOT_ALLOWED);
    assert.deepEqual(g.checkSender('shop', 'x@sub.shop.example'), SENDER_NOT_ALLOWED);
    assert.deepEqual(g.checkSender('shop', ''), SENDER_NOT_ALLOWED);
    assert.equal(g.checkSender('other', 'anyone@anywhere.example'), undefined);
    assert.equal(g.checkSender(undefined, 'anyone@anywhere.example'), undefined);
  });

  it('matches local parts exactly and domains case-insensitively', () => {
    assert.equal(senderAllowed(['user@example.org'], 'user@Example.ORG'), true);
    assert.equal(senderAllowed(['user@example.org'], 'User@example.org'), false);
    assert.equal(senderAllowed(['example.org'], 'a@example.org.evil.example'), false);
    assert.equal(senderAllowed(['example.org'], '"a@example.org"@evil.example'), false);
    assert.equal(senderAllowed(['example.org'], 'no-at-sign'), false);
    assert.equal(senderAllowed([], 'a@example.org'), false);
  });
});
