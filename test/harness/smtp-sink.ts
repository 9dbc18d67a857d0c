/**
 * A scriptable receiving SMTP server for testing our SMTP client.
 *
 * Its own small implementation on purpose (nothing from src/ingress or
 * src/protocol): an independent peer, so a shared bug cannot hide on both sides.
 * Supports EHLO/HELO, PIPELINING (commands handled strictly in order, replies in
 * order), STARTTLS when `script.tls` is set, DATA and BDAT (CHUNKING), RSET, NOOP,
 * several transactions per connection, QUIT. The script decides the banner, the
 * EHLO keywords, per-command replies and misbehaviour (hangups, stalls, delays);
 * `setScript` swaps it for the following commands. Messages the sink accepted
 * (2xx final reply) are in `messages` with their raw bytes as received.
 *
 * Input is test traffic from the client under test; limits (64 KiB without a line
 * end, 110 MB per message) close the connection rather than grow without bound.
 * Loopback only (127.0.0.2..127.0.0.9 work on Linux without setup).
 */
import { once } from 'node:events';
import { createServer, type Socket } from 'node:net';
import { SinkSession } from './smtp-sink-session.ts';

export interface SinkMessage {
  readonly connectionId: number;
  readonly helo: string;
  readonly tls: boolean;
  readonly mailFrom: string;
  readonly mailParams: string;
  readonly rcptTo: readonly string[];
  readonly rcptParams: readonly string[];
  /**
   * Bytes exactly as received between the DATA reply and the terminator, incl.
   * dot-stuffing: everything up to and including the CRLF before the final `.`
   * line. For BDAT, the chunks concatenated.
   */
  readonly raw: Buffer;
  /** Unstuffed (for BDAT the same bytes as `raw`). */
  readonly body: Buffer;
  readonly receivedAt: number;
}

export interface SinkScript {
  /** Full reply line(s) without CRLF (several lines separated by `\n`), default "220 sink.test ESMTP". */
  banner?: string;
  /** EHLO keywords; default PIPELINING 8BITMIME SMTPUTF8 ENHANCEDSTATUSCODES SIZE 104857600 DSN CHUNKING. */
  extensions?: readonly string[];
  /** Answer EHLO with 502 (the client must fall back to HELO). */
  rejectEhlo?: boolean;
  /** Offer STARTTLS with this key and certificate (PEM). */
  tls?: { key: string; cert: string };
  onConnect?(info: { connectionId: number; remoteAddress: string }): 'accept' | 'refuse-421' | 'hangup';
  /** Reply line override, e.g. "451 4.3.0 try later"; undefined keeps "250 2.1.0 Ok". */
  onMail?(from: string, params: string): string | undefined;
  /** e.g. "550 5.1.1 No such user here"; undefined keeps "250 2.1.5 Ok". */
  onRcpt?(to: string, params: string): string | undefined;
  /** Final reply after the data, default "250 2.0.0 Ok: queued". */
  onData?(message: SinkMessage): string | undefined;
  /** Close the connection right after the end of data, without a reply (the message is still recorded). */
  hangupAfterDot?: boolean;
  /** Never send the final reply to a message's data (nothing is recorded); the connection stays open. */
  stallInData?: boolean;
  /** Wait this long before every reply, the banner included. */
  replyDelayMs?: number;
}

export interface SmtpSink {
  readonly host: string;
  readonly port: number;
  /** Accepted messages, in the order their final reply was sent. */
  readonly messages: SinkMessage[];
  readonly connectionCount: number;
  /** Every command line received (CRLF stripped; DATA/BDAT content is in `messages`), in order, per connection. */
  transcript(connectionId?: number): string[];
  waitForMessages(count: number, timeoutMs?: number): Promise<SinkMessage[]>;
  setScript(script: SinkScript): void;
  close(): Promise<void>;
}

export const DEFAULT_EXTENSIONS: readonly string[] = [
  'PIPELINING',
  '8BITMIME',
  'SMTPUTF8',
  'ENHANCEDSTATUSCODES',
  'SIZE 104857600',
  'DSN',
  'CHUNKING',
];

/** What a session needs from its sink. */
export interface SinkHost {
  script(): SinkScript;
  recordLine(connectionId: number, line: string): void;
  accept(message: SinkMessage): void;
}

export async function startSmtpSink(
  options: { host?: string; port?: number; script?: SinkScript } = {},
): Promise<SmtpSink> {
  const host = options.host ?? '127.0.0.1';
  let script: SinkScript = options.script ?? {};
  const messages: SinkMessage[] = [];
  const lines: { connectionId: number; line: string }[] = [];
  const sockets = new Set<Socket>();
  const waiters = new Set<() => void>();
  let connections = 0;

  const sinkHost: SinkHost = {
    script: () => script,
    recordLine: (connectionId, line) => lines.push({ connectionId, line }),
    accept: (message) => {
      messages.push(message);
      for (const wake of [...waiters]) wake();
    },
  };

  const server = createServer({ noDelay: true }, (socket) => {
    connections++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    new SinkSession(socket, connections, sinkHost).start();
  });
  server.listen(options.port ?? 0, host);
  await once(server, 'listening');
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('sink: no TCP address');

  return {
    host,
    port: address.port,
    messages,
    get connectionCount() {
      return connections;
    },
    transcript(connectionId?: number): string[] {
      return lines
        .filter((l) => connectionId === undefined || l.connectionId === connectionId)
        .map((l) => l.line);
    },
    waitForMessages(count: number, timeoutMs = 5000): Promise<SinkMessage[]> {
      if (messages.length >= count) return Promise.resolve([...messages]);
      return new Promise((resolve, reject) => {
        const check = (): void => {
          if (messages.length < count) return;
          clearTimeout(timer);
          waiters.delete(check);
          resolve([...messages]);
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(
            new Error(`sink: expected ${count} messages within ${timeoutMs} ms, got ${messages.length}`),
          );
        }, timeoutMs);
        waiters.add(check);
      });
    },
    setScript(next: SinkScript): void {
      script = next;
    },
    async close(): Promise<void> {
      const closed = once(server, 'close');
      server.close();
      for (const socket of sockets) socket.destroy();
      await closed;
    },
  };
}
