/**
 * Opens an outbound SMTP session: connect, greeting, EHLO (HELO fallback), STARTTLS
 * per policy, EHLO again over TLS, optional AUTH. The result is an SmtpConnection.
 *
 * In: ConnectOptions (an IP, never a name: DNS is done before this). Out: a connection
 * whose `extensions` come from the last EHLO. The server is UNTRUSTED.
 *
 * TLS policy: `none` never upgrades; `may` upgrades when STARTTLS is offered and fails
 * with TLS_FAILED if that goes wrong (retrying in plaintext is the caller's decision);
 * `encrypt` and `verify` fail with TLS_REQUIRED when it is not offered; `verify` also
 * checks the certificate chain and that it names mxHost.
 *
 * Failure: rejects with SmtpClientError (phase says where); the socket is closed
 * (with a best-effort QUIT when the server answered with a refusal).
 */
import { isIP } from 'node:net';
import type { ConnectionOptions } from 'node:tls';
import type { SmtpReply } from '../../contracts/status.ts';
import { authenticate } from './auth.ts';
import { parseExtensions } from './commands.ts';
import { OutboundSmtpConnection } from './connection.ts';
import { describeReply, SmtpClientError } from './errors.ts';
import { SmtpTransport } from './transport.ts';
import { type ClientTimeouts, type ConnectOptions, resolveTimeouts, type SmtpConnection } from './types.ts';

/** EHLO argument: a domain name or an address literal, no spaces or control characters. */
const HELO_NAME =
  /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*|\[[0-9A-Fa-f:.IPv]+\])$/;

function invalid(message: string): SmtpClientError {
  return new SmtpClientError({ code: 'INVALID', phase: 'connect', message, temporary: false });
}

function tlsOptionsFor(options: ConnectOptions): ConnectionOptions {
  const name = options.mxHost.replace(/\.$/, '');
  const named = isIP(name) === 0 && name !== '';
  return {
    ...options.tlsOptions,
    // Node checks the certificate against servername, else host: both are the MX name.
    host: name,
    ...(named ? { servername: name } : {}),
    rejectUnauthorized: options.tls === 'verify',
  };
}

export async function openSmtpConnection(options: ConnectOptions): Promise<SmtpConnection> {
  if (isIP(options.host) === 0)
    throw invalid(`host must be an IP address, got ${JSON.stringify(options.host)}`);
  if (!Number.isInteger(options.port) || options.port < 1 || options.port > 65535) throw invalid('bad port');
  if (!HELO_NAME.test(options.localHostname) || options.localHostname.length > 255) {
    throw invalid(`localHostname is not a valid EHLO argument: ${JSON.stringify(options.localHostname)}`);
  }
  if (options.implicitTls && options.tls === 'none')
    throw invalid("implicitTls needs a tls policy other than 'none'");
  const timeouts = resolveTimeouts(options.timeouts);
  const tlsOptions = tlsOptionsFor(options);

  const transport = await SmtpTransport.connect({
    host: options.host,
    port: options.port,
    connectMs: timeouts.connectMs,
    ...(options.localAddress ? { localAddress: options.localAddress } : {}),
    ...(options.implicitTls
      ? { implicitTls: { options: tlsOptions, handshakeMs: timeouts.starttlsMs } }
      : {}),
  });
  try {
    const greeting = await transport.readReply('greeting', timeouts.greetingMs);
    if (greeting.code !== 220) {
      throw new SmtpClientError({
        code: 'GREETING_REJECTED',
        phase: 'greeting',
        message: `greeting refused: ${describeReply(greeting)}`,
        reply: greeting,
      });
    }
    let extensions = await hello(transport, options.localHostname, timeouts);
    if (!options.implicitTls && options.tls !== 'none') {
      if (extensions.has('STARTTLS')) {
        await transport.sendCommands(['STARTTLS'], 'starttls', timeouts.starttlsMs, {
          discardAfterReply: true,
        });
        const reply = await transport.readReply('starttls', timeouts.starttlsMs);
        if (reply.code !== 220) {
          throw new SmtpClientError({
            code: 'TLS_FAILED',
            phase: 'starttls',
            message: `STARTTLS refused: ${describeReply(reply)}`,
            reply,
            temporary: true,
          });
        }
        await transport.startTls(tlsOptions, timeouts.starttlsMs);
        // RFC 3207 4.2: forget everything learnt before TLS and ask again.
        extensions = await hello(transport, options.localHostname, timeouts);
      } else if (options.tls === 'encrypt' || options.tls === 'verify') {
        throw new SmtpClientError({
          code: 'TLS_REQUIRED',
          phase: 'starttls',
          message: 'TLS is required but the server does not offer STARTTLS',
        });
      }
    }
    if (options.auth) {
      await authenticate(transport, extensions.get('AUTH'), options.auth, options.host, timeouts.ehloMs);
    }
    // A reply may have arrived together with garbage that failed the transport just after.
    if (transport.failure) throw transport.failure;
    return new OutboundSmtpConnection({
      transport,
      mxHost: options.mxHost,
      ip: options.host,
      port: options.port,
      extensions,
      timeouts,
    });
  } catch (error) {
    await abandon(transport, error);
    throw error;
  }
}

/** EHLO; on a 5xx, HELO (and no extensions). Anything else refused is a session failure. */
async function hello(
  transport: SmtpTransport,
  name: string,
  timeouts: ClientTimeouts,
): Promise<Map<string, string>> {
  await transport.sendCommands([`EHLO ${name}`], 'ehlo', timeouts.ehloMs);
  const ehlo = await transport.readReply('ehlo', timeouts.ehloMs);
  if (ehlo.code === 250) return parseExtensions(ehlo);
  if (ehlo.code >= 500) {
    await transport.sendCommands([`HELO ${name}`], 'ehlo', timeouts.ehloMs);
    const helo = await transport.readReply('ehlo', timeouts.ehloMs);
    if (helo.code === 250) return new Map();
    throw refused('HELO', helo);
  }
  throw refused('EHLO', ehlo);
}

function refused(command: string, reply: SmtpReply): SmtpClientError {
  return new SmtpClientError({
    code: 'REJECTED',
    phase: 'ehlo',
    message: `${command} refused: ${describeReply(reply)}`,
    reply,
  });
}

/** After a refusal with a reply the session is still in sync: say QUIT briefly. Else just close. */
async function abandon(transport: SmtpTransport, error: unknown): Promise<void> {
  const polite =
    error instanceof SmtpClientError && error.reply !== undefined && transport.failure === undefined;
  if (polite) {
    try {
      await transport.sendCommands(['QUIT'], 'quit', 2_000);
      await transport.readReply('quit', 2_000);
    } catch {
      // Nothing more to learn from this server.
    }
  }
  transport.destroy();
}
