/**
 * The text `mxpress start` prints once the server is up.
 *
 * In: the effective config, what the runtime reports it bound (real ports when 0
 * was asked for) and the version. Out: a few lines telling an operator where to
 * point a mail client, whether STARTTLS is offered and who needs AUTH, where the
 * HTTP API listens, the data dir, the DNS servers and a `swaks` line to try it.
 * Pure formatting; never throws for a valid Config.
 */
import type { Config } from '../../config/types.ts';

export interface StartedListener {
  readonly name: string;
  readonly address: string;
  readonly port: number;
  readonly tls: string;
  readonly deliveryMode: string;
}

export interface StartedInfo {
  readonly listeners: readonly StartedListener[];
  readonly http?: { readonly address: string; readonly port: number };
  readonly tls: { readonly selfSigned: boolean; readonly fingerprint256: string };
}

/** Where a client on this machine connects for a listener bound to `address`. */
export function connectHost(address: string): string {
  if (address === '0.0.0.0') return '127.0.0.1';
  if (address === '::') return '::1';
  return address;
}

function hostPort(address: string, port: number): string {
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
}

function tlsText(tls: string): string {
  if (tls === 'implicit') return 'TLS from the first byte (implicit TLS)';
  if (tls === 'none') return 'no TLS';
  return 'STARTTLS offered';
}

function authText(config: Config, requireAuth: boolean): string {
  const users = config.smtp.users.length;
  const noUsers = 'no users configured yet, see "mxpress hash-password"';
  if (requireAuth) return `AUTH required from every client${users === 0 ? ` (${noUsers})` : ''}`;
  const trusted = config.smtp.trustedNetworks.join(', ') || 'nowhere';
  const others =
    users === 0
      ? `others need AUTH (${noUsers})`
      : `others need AUTH (${users} user${users === 1 ? '' : 's'})`;
  return `no AUTH needed from ${trusted}; ${others}`;
}

export function swaksHint(listener: StartedListener, requireAuth: boolean): string {
  const host = connectHost(listener.address);
  const server = host.includes(':')
    ? `--server ${host} --port ${listener.port}`
    : `--server ${host}:${listener.port}`;
  const tls = listener.tls === 'implicit' ? ' --tls-on-connect' : requireAuth ? ' --tls' : '';
  const auth = requireAuth ? ' --auth-user USER' : '';
  return `swaks ${server}${tls}${auth} --from me@example.com --to you@example.com`;
}

export function formatBanner(config: Config, started: StartedInfo, version: string): string {
  const lines: string[] = [`mxpress ${version} is running as ${config.hostname}`];
  const label = (name: string): string => `  ${name.padEnd(10)}`;
  const indent = ' '.repeat(12);
  started.listeners.forEach((l, i) => {
    const requireAuth = config.smtp.listeners.find((c) => c.name === l.name)?.requireAuth ?? false;
    const where = hostPort(l.address, l.port);
    const local =
      connectHost(l.address) === l.address ? '' : ` (connect to ${hostPort(connectHost(l.address), l.port)})`;
    lines.push(
      `${i === 0 ? label('SMTP') : indent}${where}${local}: ${tlsText(l.tls)}, ${l.deliveryMode} delivery`,
    );
    lines.push(`${indent}${authText(config, requireAuth)}`);
  });
  lines.push(
    started.http === undefined
      ? `${label('HTTP API')}not running`
      : `${label('HTTP API')}http://${hostPort(started.http.address, started.http.port)}/`,
  );
  const certificate = started.tls.selfSigned ? 'self-signed certificate' : 'certificate';
  lines.push(`${label('TLS')}${certificate}, SHA-256 ${started.tls.fingerprint256}`);
  lines.push(`${label('Data dir')}${config.dataDir}`);
  const dns =
    config.dns.servers.length === 0 ? 'system resolvers (/etc/resolv.conf)' : config.dns.servers.join(', ');
  lines.push(`${label('DNS')}${dns}`);
  if (config.delivery.mxPort !== 25)
    lines.push(`${label('Delivery')}to port ${config.delivery.mxPort} on MX hosts`);
  const first = started.listeners[0];
  if (first !== undefined) {
    const requireAuth = config.smtp.listeners.find((c) => c.name === first.name)?.requireAuth ?? false;
    lines.push(`${label('Try')}${swaksHint(first, requireAuth)}`);
  }
  lines.push('Stop with Ctrl-C or SIGTERM (a second signal exits at once).');
  return `${lines.join('\n')}\n`;
}
