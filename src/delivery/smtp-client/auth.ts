/**
 * SMTP AUTH for relay routes (RFC 4954): PLAIN (RFC 4616) preferred, LOGIN as fallback.
 *
 * In: the transport after EHLO, the offered mechanisms, credentials. Out: resolves once
 * the server answered 235. Credentials are refused locally over plaintext unless the
 * peer is a loopback address (a test relay on the same host).
 *
 * Failure: SmtpClientError with phase `auth`: TLS_REQUIRED (plaintext), AUTH_UNAVAILABLE
 * (no usable mechanism offered), AUTH_FAILED (refused; temporary per reply code), or
 * the transport's error. Replies are UNTRUSTED (only their codes are used).
 */
import { isIP } from 'node:net';
import { SmtpClientError } from './errors.ts';
import type { SmtpTransport } from './transport.ts';

export interface Credentials {
  readonly username: string;
  readonly password: string;
}

function isLoopback(ip: string): boolean {
  if (isIP(ip) === 4) return ip.startsWith('127.');
  return ip === '::1' || ip.toLowerCase().startsWith('::ffff:127.');
}

function b64(text: string): string {
  return Buffer.from(text, 'utf8').toString('base64');
}

export async function authenticate(
  transport: SmtpTransport,
  mechanismsParam: string | undefined,
  credentials: Credentials,
  peerIp: string,
  timeoutMs: number,
): Promise<void> {
  if (!transport.tlsInfo && !isLoopback(peerIp)) {
    throw new SmtpClientError({
      code: 'TLS_REQUIRED',
      phase: 'auth',
      message: 'will not send credentials without TLS',
    });
  }
  if (/[\0\r\n]/.test(credentials.username) || /\0/.test(credentials.password)) {
    throw new SmtpClientError({
      code: 'AUTH_FAILED',
      phase: 'auth',
      message: 'username or password contains characters SASL cannot carry',
      temporary: false,
    });
  }
  const mechanisms = new Set((mechanismsParam ?? '').toUpperCase().split(/\s+/).filter(Boolean));
  const step = async (line: string): Promise<number> => {
    await transport.sendCommands([line], 'auth', timeoutMs);
    const reply = await transport.readReply('auth', timeoutMs);
    if (reply.code === 235 || reply.code === 334) return reply.code;
    throw new SmtpClientError({
      code: 'AUTH_FAILED',
      phase: 'auth',
      message: 'authentication refused',
      reply,
    });
  };
  const expect = (got: number, want: number): void => {
    if (got !== want) {
      throw new SmtpClientError({
        code: 'PROTOCOL',
        phase: 'auth',
        message: `expected ${want} during AUTH, got ${got}`,
      });
    }
  };
  if (mechanisms.has('PLAIN')) {
    expect(await step(`AUTH PLAIN ${b64(`\0${credentials.username}\0${credentials.password}`)}`), 235);
    return;
  }
  if (mechanisms.has('LOGIN')) {
    expect(await step('AUTH LOGIN'), 334);
    expect(await step(b64(credentials.username)), 334);
    expect(await step(b64(credentials.password)), 235);
    return;
  }
  throw new SmtpClientError({
    code: 'AUTH_UNAVAILABLE',
    phase: 'auth',
    message: 'the server offers no AUTH mechanism we support (PLAIN, LOGIN)',
  });
}
