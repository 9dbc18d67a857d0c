/**
 * One DNS query to one server over UDP or TCP, with a timeout.
 *
 * Input: the server, the query (id, name, type) and a timeout. Output: the decoded
 * reply, `timeout`, or `error` (socket errors, a closed TCP connection, a TCP reply
 * that does not match). Never rejects. Replies come from the network (UNTRUSTED):
 * over UDP the socket is connected, so the OS drops datagrams from other addresses,
 * and we additionally ignore anything that does not decode, is not a response, or
 * does not carry our id and echo our question — a spoofer has to guess both, and
 * the real answer can still arrive. Each query uses a fresh socket, so the OS picks
 * a random source port every time.
 */
import { createSocket } from 'node:dgram';
import { connect } from 'node:net';
import type { ServerAddress } from './servers.ts';
import { CLASS_IN, type DnsMessage, decodeMessage } from './wire.ts';
import { encodeQuery } from './wire-encode.ts';
import { lowerName } from './wire-name.ts';

export interface Query {
  readonly id: number;
  /** Lower-case A-label name without trailing dot. */
  readonly name: string;
  readonly type: number;
}

export type ExchangeResult =
  | { readonly kind: 'reply'; readonly message: DnsMessage }
  | { readonly kind: 'timeout' }
  | { readonly kind: 'error'; readonly message: string };

/** Does this message answer exactly our query? */
export function answersQuery(message: DnsMessage, query: Query): boolean {
  const question = message.questions[0];
  return (
    message.qr &&
    message.id === query.id &&
    message.questions.length === 1 &&
    question !== undefined &&
    question.type === query.type &&
    question.class === CLASS_IN &&
    lowerName(question.name) === query.name
  );
}

export function exchangeUdp(server: ServerAddress, query: Query, timeoutMs: number): Promise<ExchangeResult> {
  const bytes = encodeQuery(query);
  const socket = createSocket(server.family === 6 ? 'udp6' : 'udp4');
  return new Promise<ExchangeResult>((resolve) => {
    let settled = false;
    const finish = (result: ExchangeResult): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.close();
      resolve(result);
    };
    const timer = setTimeout(() => finish({ kind: 'timeout' }), timeoutMs);
    socket.on('error', (error) => finish({ kind: 'error', message: error.message }));
    socket.on('message', (datagram: Buffer) => {
      const decoded = decodeMessage(datagram);
      if (decoded.ok && answersQuery(decoded.message, query))
        finish({ kind: 'reply', message: decoded.message });
    });
    socket.connect(server.port, server.host, () => {
      if (settled) return;
      socket.send(bytes, (error) => {
        if (error) finish({ kind: 'error', message: error.message });
      });
    });
  });
}

export function exchangeTcp(server: ServerAddress, query: Query, timeoutMs: number): Promise<ExchangeResult> {
  const bytes = encodeQuery(query);
  const framed = Buffer.alloc(2 + bytes.length);
  framed.writeUInt16BE(bytes.length);
  bytes.copy(framed, 2);
  const socket = connect({ host: server.host, port: server.port });
  return new Promise<ExchangeResult>((resolve) => {
    let settled = false;
    let received = Buffer.alloc(0);
    const finish = (result: ExchangeResult): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(result);
    };
    const timer = setTimeout(() => finish({ kind: 'timeout' }), timeoutMs);
    socket.on('connect', () => socket.write(framed));
    socket.on('error', (error) => finish({ kind: 'error', message: error.message }));
    socket.on('close', () => finish({ kind: 'error', message: 'TCP connection closed before the reply' }));
    // The 2-byte length bounds what we keep: we stop at the first complete reply.
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      if (received.length < 2) return;
      const length = received.readUInt16BE(0);
      if (received.length < 2 + length) return;
      const decoded = decodeMessage(received.subarray(2, 2 + length));
      if (!decoded.ok) return finish({ kind: 'error', message: `malformed TCP reply: ${decoded.error}` });
      if (!answersQuery(decoded.message, query))
        return finish({ kind: 'error', message: 'TCP reply does not match' });
      finish({ kind: 'reply', message: decoded.message });
    });
  });
}
