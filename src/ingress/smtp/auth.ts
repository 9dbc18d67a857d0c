/**
 * SMTP AUTH (RFC 4954) with the PLAIN (RFC 4616) and LOGIN mechanisms.
 *
 * Offered only under TLS or to loopback clients, so passwords never cross a network
 * in the clear. Credentials are UNTRUSTED: base64 is decoded strictly, identities
 * with control characters are refused, and an unknown user gets exactly the same
 * 535 (after the same scrypt work, see config/password.ts) as a wrong password.
 * "*" cancels an exchange (501). Failures count toward the session's error limit
 * and, through ingress/abuse/, toward per-IP and per-user-name lockouts (454 4.7.0
 * while locked); each failure is answered only after a pause (the socket paused).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { AUTH_LOCKED } from '../abuse/abuse-guard.ts';
import { authOffered } from './commands.ts';
import type { SmtpSession } from './session.ts';

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const USER_PROMPT = Buffer.from('Username:').toString('base64');
const PASS_PROMPT = Buffer.from('Password:').toString('base64');

export function startAuth(s: SmtpSession, args: string): void {
  if (!s.env.authAvailable) return s.clientError(502, '5.5.1', 'Error: authentication not enabled');
  if (!authOffered(s))
    return s.clientError(538, '5.7.11', 'Encryption required for requested authentication mechanism');
  if (!s.esmtp) return s.clientError(503, '5.5.1', 'Error: send EHLO first');
  if (s.authUser !== undefined) return s.clientError(503, '5.5.1', 'Error: already authenticated');
  if (s.tx) return s.clientError(503, '5.5.1', 'Error: AUTH not permitted during a mail transaction');
  if (s.env.abuse?.authLockedIp(s.remoteAddress)) {
    s.env.log('warn', 'AUTH refused: client locked out', { client: s.remoteAddress });
    return s.clientError(AUTH_LOCKED.code, AUTH_LOCKED.enhanced, AUTH_LOCKED.text);
  }
  const [mechanism = '', initial, extra] = args.split(' ');
  if (extra !== undefined) return s.clientError(501, '5.5.4', 'Syntax: AUTH mechanism [initial-response]');
  switch (mechanism.toUpperCase()) {
    case 'PLAIN':
      if (initial === undefined) {
        s.phase = 'auth-plain';
        return s.reply(334, undefined, '');
      }
      return plain(s, initial);
    case 'LOGIN':
      if (initial === undefined) {
        s.phase = 'auth-login-user';
        return s.reply(334, undefined, USER_PROMPT);
      }
      return loginUser(s, initial);
    default:
      return s.clientError(504, '5.5.4', 'Error: unrecognized authentication mechanism');
  }
}

/** A line sent in answer to a 334 challenge. */
export function continueAuth(s: SmtpSession, line: string): void {
  const phase = s.phase;
  s.phase = 'command';
  if (line === '*') {
    s.pendingLoginUser = undefined;
    return s.clientError(501, '5.0.0', 'Authentication cancelled');
  }
  if (phase === 'auth-plain') return plain(s, line);
  if (phase === 'auth-login-user') return loginUser(s, line);
  const user = s.pendingLoginUser ?? '';
  s.pendingLoginUser = undefined;
  const password = decode(line);
  if (password === undefined)
    return s.clientError(501, '5.5.2', 'Error: invalid base64 in authentication exchange');
  verify(s, user, password);
}

function loginUser(s: SmtpSession, encoded: string): void {
  const user = decode(encoded);
  if (user === undefined)
    return s.clientError(501, '5.5.2', 'Error: invalid base64 in authentication exchange');
  s.pendingLoginUser = user;
  s.phase = 'auth-login-pass';
  s.reply(334, undefined, PASS_PROMPT);
}

function plain(s: SmtpSession, encoded: string): void {
  const decoded = decode(encoded === '=' ? '' : encoded);
  if (decoded === undefined)
    return s.clientError(501, '5.5.2', 'Error: invalid base64 in authentication exchange');
  const parts = decoded.split('\0');
  if (parts.length !== 3) return s.clientError(501, '5.5.2', 'Error: malformed PLAIN response');
  const [authzid = '', authcid = '', password = ''] = parts;
  if (authzid !== '' && authzid !== authcid) return fail(s, authcid.length <= 256 ? authcid : undefined);
  verify(s, authcid, password);
}

function verify(s: SmtpSession, user: string, password: string): void {
  if (user === '' || /[\x00-\x1f\x7f]/.test(user) || user.length > 256 || password.length > 1024) {
    // Same answer as any other failure; nothing about the identity is echoed or logged raw.
    return fail(s, undefined);
  }
  // The IP again, as a lockout may have begun since AUTH (a parallel session); the name is locked
  // for unknown names too, so the 454 tells nothing about which users exist.
  if (s.env.abuse?.authLockedIp(s.remoteAddress) || s.env.abuse?.authLockedUser(user)) {
    s.env.log('warn', 'AUTH refused: locked out', { client: s.remoteAddress });
    return s.clientError(AUTH_LOCKED.code, AUTH_LOCKED.enhanced, AUTH_LOCKED.text);
  }
  void s.runBusy(async () => {
    const ok = await s.env.verifyUser(user, password);
    if (ok) {
      s.authUser = user;
      s.env.abuse?.authSucceeded(user);
      s.env.log('info', 'authenticated', { client: s.remoteAddress, user });
      s.reply(235, '2.7.0', 'Authentication successful');
    } else {
      s.env.log('warn', 'authentication failed', { client: s.remoteAddress });
      const delay = recordFailure(s, user);
      if (delay > 0) await sleep(delay);
      refuseCredentials(s);
    }
  });
}

/** A failure found without async work: answered after the same pause, with the socket paused. */
function fail(s: SmtpSession, user: string | undefined): void {
  const delay = recordFailure(s, user);
  if (delay === 0) return refuseCredentials(s);
  void s.runBusy(async () => {
    await sleep(delay);
    refuseCredentials(s);
  });
}

/** Counts the failure toward the lockouts; returns the pause before answering (ms). */
function recordFailure(s: SmtpSession, user: string | undefined): number {
  const abuse = s.env.abuse;
  if (!abuse) return 0;
  if (abuse.authFailed(s.remoteAddress, user))
    s.env.log('warn', 'AUTH lockout begins after repeated failures', { client: s.remoteAddress });
  return abuse.failureDelayMs;
}

function refuseCredentials(s: SmtpSession): void {
  s.clientError(535, '5.7.8', 'Error: authentication credentials invalid');
}

function decode(text: string): string | undefined {
  if (text.length > 4096 || !BASE64.test(text)) return undefined;
  const bytes = Buffer.from(text, 'base64');
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return undefined;
  }
}
