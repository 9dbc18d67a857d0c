/**
 * In-process authoritative DNS server for tests, on UDP and TCP at the same port.
 *
 * Serves a `Zone` (a plain object, replaceable at any time with `setZone`) and
 * behaves like a recursive resolver would towards our stub: CNAME chains inside
 * the zone are followed into the answer; names not in the zone are NXDOMAIN;
 * a name without the asked type is NOERROR with no answers and an SOA (minimum
 * `negativeTtl`) in the authority section. Entries can force an rcode, drop the
 * query, or answer UDP with TC set so the client has to retry over TCP. UDP
 * answers larger than the client's EDNS size (512 without EDNS) are truncated.
 * Every query is recorded in `queries`. Input is test traffic; a malformed query
 * gets FORMERR (or nothing, when even the id is missing). Loopback only.
 */
import { createSocket, type RemoteInfo, type Socket as UdpSocket } from 'node:dgram';
import { once } from 'node:events';
import { createServer, isIPv6, type Server, type Socket } from 'node:net';
import {
  CLASS_IN,
  type DnsMessage,
  type DnsRecord,
  decodeMessage,
  RCODE,
  RR_TYPE,
  typeName,
} from '../../src/delivery/dns/wire.ts';
import { encodeMessage } from '../../src/delivery/dns/wire-encode.ts';

export type ZoneEntry = {
  mx?: { preference: number; exchange: string }[];
  a?: string[];
  aaaa?: string[];
  txt?: string[][];
  ptr?: string[];
  cname?: string;
  ttl?: number;
  rcode?: 'NXDOMAIN' | 'SERVFAIL' | 'REFUSED';
  drop?: boolean;
  truncateUdp?: boolean;
};

/** Keys are lower-case names without trailing dot; null MX is `mx: [{ preference: 0, exchange: '' }]`. */
export type Zone = Record<string, ZoneEntry>;

export interface DnsServer {
  readonly host: string;
  readonly port: number;
  /** "127.0.0.1:port" (or "[::1]:port"), ready for the resolver's `servers`. */
  readonly address: string;
  setZone(zone: Zone): void;
  /** Every query received, UDP and TCP, in arrival order. */
  readonly queries: { name: string; type: string }[];
  close(): Promise<void>;
}

export interface DnsServerOptions {
  host?: string;
  port?: number;
  zone: Zone;
  /** TTL of positive records when the entry has none (default 300). */
  defaultTtl?: number;
  /** SOA TTL and minimum in negative answers (default 60). */
  negativeTtl?: number;
}

const MAX_CNAME_HOPS = 8;
const MAX_TCP_BUFFER = 70_000;

function recordsOf(name: string, entry: ZoneEntry, type: number, ttl: number): DnsRecord[] {
  const base = { name, class: CLASS_IN, ttl };
  switch (type) {
    case RR_TYPE.A:
      return (entry.a ?? []).map((address) => ({ ...base, type: 'A', address }));
    case RR_TYPE.AAAA:
      return (entry.aaaa ?? []).map((address) => ({ ...base, type: 'AAAA', address }));
    case RR_TYPE.MX:
      return (entry.mx ?? []).map((mx) => ({ ...base, type: 'MX', ...mx }));
    case RR_TYPE.TXT:
      return (entry.txt ?? []).map((strings) => ({ ...base, type: 'TXT', strings }));
    case RR_TYPE.PTR:
      return (entry.ptr ?? []).map((target) => ({ ...base, type: 'PTR', target }));
    default:
      return [];
  }
}

function soaFor(name: string, ttl: number): DnsRecord {
  const apex = name.split('.').slice(-2).join('.');
  return {
    name: apex,
    class: CLASS_IN,
    ttl,
    type: 'SOA',
    mname: `ns.${apex}`,
    rname: `hostmaster.${apex}`,
    serial: 1,
    refresh: 3600,
    retry: 600,
    expire: 86400,
    minimum: ttl,
  };
}

export async function startDnsServer(options: DnsServerOptions): Promise<DnsServer> {
  const host = options.host ?? '127.0.0.1';
  const defaultTtl = options.defaultTtl ?? 300;
  const negativeTtl = options.negativeTtl ?? 60;
  let zone = options.zone;
  const queries: { name: string; type: string }[] = [];
  const tcpSockets = new Set<Socket>();

  /** The reply bytes for one query, or undefined to stay silent. */
  const answer = (bytes: Uint8Array, overUdp: boolean): Buffer | undefined => {
    const decoded = decodeMessage(bytes);
    if (!decoded.ok || decoded.message.qr || decoded.message.questions.length !== 1) {
      if (bytes.length < 2) return undefined;
      return encodeMessage({ id: (bytes[0]! << 8) | bytes[1]!, qr: true, rcode: RCODE.FORMERR });
    }
    const query = decoded.message;
    const question = query.questions[0]!;
    queries.push({ name: question.name.toLowerCase(), type: typeName(question.type) });
    const reply = (init: Partial<DnsMessage>): Buffer =>
      encodeMessage({
        id: query.id,
        qr: true,
        aa: true,
        rd: query.rd,
        ra: true,
        questions: [question],
        ...(query.edns === undefined ? {} : { edns: { udpSize: 1232 } }),
        ...init,
      });

    const answers: DnsRecord[] = [];
    let name = question.name.toLowerCase();
    for (let hop = 0; ; hop++) {
      const entry = zone[name];
      if (entry === undefined) {
        return reply({ rcode: RCODE.NXDOMAIN, answers, authority: [soaFor(name, negativeTtl)] });
      }
      if (entry.drop) return undefined;
      if (entry.rcode !== undefined) return reply({ rcode: RCODE[entry.rcode], answers });
      if (entry.truncateUdp && overUdp) return reply({ tc: true });
      const ttl = entry.ttl ?? defaultTtl;
      if (entry.cname !== undefined && question.type !== RR_TYPE.CNAME && hop < MAX_CNAME_HOPS) {
        answers.push({ name, class: CLASS_IN, ttl, type: 'CNAME', target: entry.cname });
        name = entry.cname.toLowerCase();
        continue;
      }
      if (entry.cname !== undefined && question.type === RR_TYPE.CNAME) {
        answers.push({ name, class: CLASS_IN, ttl, type: 'CNAME', target: entry.cname });
      } else {
        answers.push(...recordsOf(name, entry, question.type, ttl));
      }
      const full = reply({
        answers,
        authority: answers.length === 0 ? [soaFor(name, negativeTtl)] : [],
      });
      const limit = query.edns === undefined ? 512 : Math.max(512, query.edns.udpSize);
      if (overUdp && full.length > limit) return reply({ tc: true });
      return full;
    }
  };

  const family = isIPv6(host) ? 'udp6' : 'udp4';
  let udp: UdpSocket | undefined;
  let tcp: Server | undefined;
  // Bind UDP first (port 0 picks one), then TCP on the same number; retry if TCP's is taken.
  for (let attempt = 0; attempt < 10 && tcp === undefined; attempt++) {
    const socket = createSocket(family);
    socket.bind(options.port ?? 0, host);
    await once(socket, 'listening');
    const port = socket.address().port;
    const server = createServer((conn) => serveTcp(conn));
    try {
      server.listen(port, host);
      await once(server, 'listening');
      udp = socket;
      tcp = server;
    } catch (error) {
      socket.close();
      if (options.port !== undefined) throw error;
    }
  }
  if (udp === undefined || tcp === undefined) throw new Error('could not bind UDP and TCP on one port');
  const port = udp.address().port;
  const udpSocket = udp;
  const tcpServer = tcp;

  udpSocket.on('message', (msg: Buffer, remote: RemoteInfo) => {
    const out = answer(msg, true);
    if (out !== undefined) udpSocket.send(out, remote.port, remote.address);
  });

  function serveTcp(conn: Socket): void {
    tcpSockets.add(conn);
    conn.on('close', () => tcpSockets.delete(conn));
    conn.on('error', () => conn.destroy());
    let buffered = Buffer.alloc(0);
    conn.on('data', (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      if (buffered.length > MAX_TCP_BUFFER) conn.destroy();
      while (buffered.length >= 2) {
        const length = buffered.readUInt16BE(0);
        if (buffered.length < 2 + length) break;
        const out = answer(buffered.subarray(2, 2 + length), false);
        buffered = buffered.subarray(2 + length);
        if (out !== undefined) {
          const prefix = Buffer.alloc(2);
          prefix.writeUInt16BE(out.length);
          conn.write(Buffer.concat([prefix, out]));
        }
      }
    });
  }

  return {
    host,
    port,
    address: family === 'udp6' ? `[${host}]:${port}` : `${host}:${port}`,
    queries,
    setZone(next: Zone): void {
      zone = next;
    },
    async close(): Promise<void> {
      for (const conn of tcpSockets) conn.destroy();
      const closed = once(tcpServer, 'close');
      tcpServer.close();
      udpSocket.close();
      await closed;
    },
  };
}
