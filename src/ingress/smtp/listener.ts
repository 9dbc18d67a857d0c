/**
 * SMTP listeners: plain/STARTTLS or implicit-TLS servers, with connection limits.
 *
 * Accepts TCP connections from anyone (UNTRUSTED), enforces the total and
 * per-client connection caps before a session exists (421 4.7.0 and close), and
 * hands each socket to an SmtpSession. `close()` stops accepting; `drain()` waits
 * for sessions to end up to a deadline, then closes the rest with 421.
 *
 * Under pressure (open sessions at or above 80% of `maxConnections`) every new
 * connection first sheds the session that has been idle longest between commands
 * (no transaction, nothing pending, quiet for at least 1 s) with 421 4.7.0; the
 * shed session stops counting at once. So idle connections (slowloris) cannot lock
 * out clients that talk: a full server still admits a newcomer when it could shed
 * an idle one. Sessions inside a transaction are never shed; when nothing is
 * sheddable the cap holds and the newcomer gets the 421.
 *
 * One sweep per listener (every quarter of the shortest session limit, 50 ms to
 * 1 s) enforces each session's idle and total time limits: no timer per session.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer, type TLSSocket } from 'node:tls';
import { formatReply } from '../../protocol/reply.ts';
import { normalizeIp, SmtpSession } from './session.ts';
import type { SessionEnv } from './session-env.ts';

export interface SmtpListener {
  readonly name: string;
  readonly address: string;
  readonly port: number;
  readonly connections: number;
  /** Stops accepting new connections. */
  close(): Promise<void>;
  /** Waits for open sessions to finish, up to `timeoutMs`, then cuts them with 421. */
  drain(timeoutMs: number): Promise<void>;
}

/** Share of maxConnections above which idle sessions are shed for newcomers. */
const PRESSURE_SHARE = 0.8;
/** Only sessions quiet at least this long are shed. */
const SHED_MIN_IDLE_MS = 1000;
/** Bounds of the timeout sweep interval (a quarter of the shortest session limit). */
const MIN_SWEEP_MS = 50;
const MAX_SWEEP_MS = 1000;

export async function startSmtpListener(env: SessionEnv): Promise<SmtpListener> {
  const sessions = new Map<Socket, SmtpSession>();
  const releases = new Map<Socket, () => void>();
  const perClient = new Map<string, number>();
  const limits = env.limits;
  const hostname = env.hostname;

  /** Closes the longest-idle session between commands; true when one was shed. */
  const shedIdle = (): boolean => {
    const now = Date.now();
    let oldest: [Socket, SmtpSession] | undefined;
    for (const entry of sessions) {
      const session = entry[1];
      if (!session.idle || now - session.lastActiveAt < SHED_MIN_IDLE_MS) continue;
      if (!oldest || session.lastActiveAt < oldest[1].lastActiveAt) oldest = entry;
    }
    if (!oldest) return false;
    const [socket, session] = oldest;
    session.closeWith(421, '4.7.0', `${hostname} Error: too many connections, idle session closed`);
    releases.get(socket)?.();
    return true;
  };

  const onSocket = (socket: Socket): void => {
    const ip = normalizeIp(socket.remoteAddress ?? '');
    if (sessions.size >= limits.maxConnections * PRESSURE_SHARE && shedIdle())
      env.log('warn', 'connection pressure: shed an idle session', { open: sessions.size });
    const count = perClient.get(ip) ?? 0;
    if (sessions.size >= limits.maxConnections) {
      refuse(socket, `${hostname} Error: too many connections, try again later`);
      return;
    }
    if (count >= limits.maxConnectionsPerClient) {
      env.log('warn', 'too many connections from one client', { client: ip, count });
      refuse(socket, `${hostname} Error: too many connections from your address`);
      return;
    }
    perClient.set(ip, count + 1);
    let released = false;
    const release = (): void => {
      if (released) return;
      released = true;
      sessions.delete(socket);
      releases.delete(socket);
      const left = (perClient.get(ip) ?? 1) - 1;
      if (left <= 0) perClient.delete(ip);
      else perClient.set(ip, left);
    };
    socket.once('close', release);
    releases.set(socket, release);
    sessions.set(socket, new SmtpSession(socket, env, release));
  };

  // One sweep enforces every session's idle and total time limits (no timer per
  // session): a limit is met within one sweep interval of its deadline.
  const sweepMs = Math.max(
    MIN_SWEEP_MS,
    Math.min(MAX_SWEEP_MS, Math.floor(Math.min(limits.idleTimeoutMs, limits.sessionTimeoutMs) / 4)),
  );
  const sweeper = setInterval(() => {
    const now = Date.now();
    for (const session of sessions.values()) session.checkTimeouts(now);
  }, sweepMs);
  sweeper.unref();

  let server: Server;
  if (env.listener.tls === 'implicit') {
    if (!env.secureContext)
      throw new Error(`listener ${env.listener.name}: implicit TLS needs a certificate`);
    if (!env.tlsCredentials)
      throw new Error(`listener ${env.listener.name}: implicit TLS needs a certificate`);
    // The certificate goes in the options: clients that send no SNI (connecting to an IP) get it too.
    const tlsServer = createTlsServer({
      ...env.tlsCredentials,
      minVersion: 'TLSv1.2',
      handshakeTimeout: 30_000,
    });
    tlsServer.on('secureConnection', (socket: TLSSocket) => onSocket(socket));
    tlsServer.on('tlsClientError', (_error, socket) => socket.destroy());
    server = tlsServer;
  } else {
    server = createServer({ noDelay: true }, onSocket);
  }
  server.maxConnections = limits.maxConnections + 64; // refusals above still get a 421
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: env.listener.address, port: env.listener.port, backlog: 1024 }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  server.on('error', (error) =>
    env.log('error', 'listener error', { listener: env.listener.name, error: String(error) }),
  );
  const bound = server.address();
  const port = typeof bound === 'object' && bound ? bound.port : env.listener.port;

  return {
    name: env.listener.name,
    address: env.listener.address,
    port,
    get connections() {
      return sessions.size;
    },
    async close() {
      // Stop accepting; open sessions are the business of drain() (still swept until then).
      server.close();
    },
    async drain(timeoutMs) {
      // Idle sessions are told at once; sessions in a transaction get until the deadline.
      for (const session of sessions.values())
        if (session.idle) session.closeWith(421, '4.3.2', `${hostname} Service shutting down`);
      const deadline = Date.now() + timeoutMs;
      while (sessions.size > 0 && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 25));
        for (const session of sessions.values())
          if (session.idle) session.closeWith(421, '4.3.2', `${hostname} Service shutting down`);
      }
      for (const socket of sessions.keys()) {
        if (!socket.destroyed) socket.end(formatReply(421, '4.3.2', `${hostname} Service shutting down`));
        setTimeout(() => socket.destroy(), 1000).unref();
      }
      clearInterval(sweeper);
    },
  };
}

function refuse(socket: Socket, text: string): void {
  socket.on('error', () => socket.destroy());
  socket.end(formatReply(421, '4.7.0', text));
  setTimeout(() => socket.destroy(), 1000).unref();
}
