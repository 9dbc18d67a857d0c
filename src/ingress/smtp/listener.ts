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

/** An open session; `slot` is its index in the listener's list. */
interface Open {
  readonly socket: Socket;
  readonly session: SmtpSession;
  readonly release: () => void;
  slot: number;
}

export async function startSmtpListener(env: SessionEnv): Promise<SmtpListener> {
  // Open sessions in an array (removal moves the last one into the gap), not a Map
  // keyed by socket: a long-lived Map that gains and loses an entry per connection
  // sits in V8's old generation, and each rehash leaves the retired table pointing at
  // the new one, so every session it ever held (socket, buffers, message) survived the
  // young-generation collections and was promoted.
  const open: Open[] = [];
  const perClient = new Map<string, number>();
  const limits = env.limits;
  const hostname = env.hostname;

  /** Closes the longest-idle session between commands; true when one was shed. */
  const shedIdle = (): boolean => {
    const now = Date.now();
    let oldest: Open | undefined;
    for (const entry of open) {
      const session = entry.session;
      if (!session.idle || now - session.lastActiveAt < SHED_MIN_IDLE_MS) continue;
      if (!oldest || session.lastActiveAt < oldest.session.lastActiveAt) oldest = entry;
    }
    if (!oldest) return false;
    oldest.session.closeWith(421, '4.7.0', `${hostname} Error: too many connections, idle session closed`);
    oldest.release();
    return true;
  };

  const onSocket = (socket: Socket): void => {
    const ip = normalizeIp(socket.remoteAddress ?? '');
    if (open.length >= limits.maxConnections * PRESSURE_SHARE && shedIdle())
      env.log('warn', 'connection pressure: shed an idle session', { open: open.length });
    const count = perClient.get(ip) ?? 0;
    if (open.length >= limits.maxConnections) {
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
    let entry: Open | undefined;
    const release = (): void => {
      if (released) return;
      released = true;
      if (entry !== undefined) {
        const last = open.pop()!;
        if (last !== entry) {
          open[entry.slot] = last;
          last.slot = entry.slot;
        }
      }
      const left = (perClient.get(ip) ?? 1) - 1;
      if (left <= 0) perClient.delete(ip);
      else perClient.set(ip, left);
    };
    socket.once('close', release);
    const session = new SmtpSession(socket, env, release);
    if (released) return;
    entry = { socket, session, release, slot: open.length };
    open.push(entry);
  };

  // One sweep enforces every session's idle and total time limits (no timer per
  // session): a limit is met within one sweep interval of its deadline.
  const sweepMs = Math.max(
    MIN_SWEEP_MS,
    Math.min(MAX_SWEEP_MS, Math.floor(Math.min(limits.idleTimeoutMs, limits.sessionTimeoutMs) / 4)),
  );
  const sweeper = setInterval(() => {
    const now = Date.now();
    // Backwards: a session released meanwhile is replaced by one already checked.
    for (let i = open.length - 1; i >= 0; i--) open[i]?.session.checkTimeouts(now);
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
      return open.length;
    },
    async close() {
      // Stop accepting; open sessions are the business of drain() (still swept until then).
      server.close();
    },
    async drain(timeoutMs) {
      // Idle sessions are told at once; sessions in a transaction get until the deadline.
      const closeIdle = (): void => {
        for (const { session } of [...open])
          if (session.idle) session.closeWith(421, '4.3.2', `${hostname} Service shutting down`);
      };
      closeIdle();
      const deadline = Date.now() + timeoutMs;
      while (open.length > 0 && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 25));
        closeIdle();
      }
      for (const { socket } of [...open]) {
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
