/**
 * DNS message encoding and decoding (RFC 1035 4.1, RFC 3596 AAAA, RFC 6891 EDNS0 OPT).
 *
 * Pure, no I/O. `decodeMessage` parses UNTRUSTED bytes from the network: it never
 * throws and returns `{ ok: false, error }` for anything malformed (bounds, bad
 * names, rdata that does not fill its length exactly, duplicate OPT). Records of
 * types we do not interpret are kept as raw bytes. `encodeQuery` builds a
 * recursion-desired query with one question and an OPT record (1232-byte UDP
 * size); `encodeMessage` builds any message (the test DNS server uses it) with name
 * compression, and throws RangeError on values that cannot be encoded (our bugs).
 */
import { formatIPv4, formatIPv6 } from '../../protocol/ip.ts';
import { readName, WireError } from './wire-name.ts';

export const RR_TYPE = {
  A: 1,
  NS: 2,
  CNAME: 5,
  SOA: 6,
  PTR: 12,
  MX: 15,
  TXT: 16,
  AAAA: 28,
  OPT: 41,
  ANY: 255,
} as const;
export type RrTypeName = keyof typeof RR_TYPE;

export const RCODE = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5 } as const;
export const CLASS_IN = 1;
/** RFC 6891 / DNS flag day 2020: a UDP size that avoids IP fragmentation. */
export const EDNS_UDP_SIZE = 1232;

const TYPE_NAMES = new Map<number, RrTypeName>(
  Object.entries(RR_TYPE).map(([name, code]) => [code, name as RrTypeName]),
);

/** `MX`, `AAAA`... or `TYPE65` for codes we have no name for (RFC 3597). */
export function typeName(code: number): string {
  return TYPE_NAMES.get(code) ?? `TYPE${code}`;
}

export interface DnsQuestion {
  readonly name: string;
  readonly type: number;
  readonly class: number;
}

export interface SoaData {
  readonly mname: string;
  readonly rname: string;
  readonly serial: number;
  readonly refresh: number;
  readonly retry: number;
  readonly expire: number;
  readonly minimum: number;
}

export type DnsRecordData =
  | { readonly type: 'A' | 'AAAA'; readonly address: string }
  | { readonly type: 'CNAME' | 'PTR' | 'NS'; readonly target: string }
  | {
      readonly type: 'MX';
      readonly preference: number /** `''` is the root (null MX). */;
      readonly exchange: string;
    }
  | { readonly type: 'TXT'; readonly strings: readonly string[] }
  | ({ readonly type: 'SOA' } & SoaData)
  | { readonly type: 'UNKNOWN'; readonly code: number; readonly data: Uint8Array };

export type DnsRecord = {
  readonly name: string;
  readonly class: number;
  readonly ttl: number;
} & DnsRecordData;

export interface EdnsInfo {
  readonly udpSize: number;
  readonly extendedRcode: number;
  readonly version: number;
  readonly dnssecOk: boolean;
}

export interface DnsMessage {
  readonly id: number;
  readonly qr: boolean;
  readonly opcode: number;
  readonly aa: boolean;
  readonly tc: boolean;
  readonly rd: boolean;
  readonly ra: boolean;
  readonly ad: boolean;
  readonly cd: boolean;
  /** The 4-bit header RCODE (see `edns.extendedRcode` for the upper bits). */
  readonly rcode: number;
  readonly questions: readonly DnsQuestion[];
  readonly answers: readonly DnsRecord[];
  readonly authority: readonly DnsRecord[];
  /** Without the OPT record, which is decoded into `edns`. */
  readonly additional: readonly DnsRecord[];
  readonly edns?: EdnsInfo;
}

export type DnsMessageInit = Partial<Omit<DnsMessage, 'id' | 'edns'>> & {
  readonly id: number;
  readonly edns?: Partial<EdnsInfo> & { readonly udpSize: number };
};

export type DecodeResult =
  | { readonly ok: true; readonly message: DnsMessage }
  | { readonly ok: false; readonly error: string };

export const MAX_MESSAGE = 65535;
const utf8 = new TextDecoder('utf-8', { fatal: false });

function u16(bytes: Uint8Array, offset: number): number {
  if (offset + 2 > bytes.length) throw new WireError('message truncated');
  return (bytes[offset]! << 8) | bytes[offset + 1]!;
}

function u32(bytes: Uint8Array, offset: number): number {
  return u16(bytes, offset) * 65536 + u16(bytes, offset + 2);
}

function decodeRdata(bytes: Uint8Array, type: number, start: number, end: number): DnsRecordData {
  const exactName = (offset: number): string => {
    const { name, next } = readName(bytes, offset);
    if (next !== end) throw new WireError(`${typeName(type)} rdata length mismatch`);
    return name;
  };
  const length = end - start;
  switch (type) {
    case RR_TYPE.A:
      if (length !== 4) throw new WireError('A rdata is not 4 octets');
      return { type: 'A', address: formatIPv4(bytes.subarray(start, end)) };
    case RR_TYPE.AAAA:
      if (length !== 16) throw new WireError('AAAA rdata is not 16 octets');
      return { type: 'AAAA', address: formatIPv6(bytes.subarray(start, end)) };
    case RR_TYPE.CNAME:
    case RR_TYPE.PTR:
    case RR_TYPE.NS:
      return {
        type: type === RR_TYPE.CNAME ? 'CNAME' : type === RR_TYPE.PTR ? 'PTR' : 'NS',
        target: exactName(start),
      };
    case RR_TYPE.MX: {
      if (length < 3) throw new WireError('MX rdata too short');
      return { type: 'MX', preference: u16(bytes, start), exchange: exactName(start + 2) };
    }
    case RR_TYPE.TXT: {
      const strings: string[] = [];
      for (let pos = start; pos < end; ) {
        const size = bytes[pos]!;
        if (pos + 1 + size > end) throw new WireError('TXT string runs past its rdata');
        strings.push(utf8.decode(bytes.subarray(pos + 1, pos + 1 + size)));
        pos += 1 + size;
      }
      return { type: 'TXT', strings };
    }
    case RR_TYPE.SOA: {
      const m = readName(bytes, start);
      const r = readName(bytes, m.next);
      if (r.next + 20 !== end) throw new WireError('SOA rdata length mismatch');
      const at = r.next;
      return {
        type: 'SOA',
        mname: m.name,
        rname: r.name,
        serial: u32(bytes, at),
        refresh: u32(bytes, at + 4),
        retry: u32(bytes, at + 8),
        expire: u32(bytes, at + 12),
        minimum: u32(bytes, at + 16),
      };
    }
    default:
      return { type: 'UNKNOWN', code: type, data: Uint8Array.from(bytes.subarray(start, end)) };
  }
}

function decodeOrThrow(bytes: Uint8Array): DnsMessage {
  if (bytes.length < 12) throw new WireError('message shorter than a header');
  if (bytes.length > MAX_MESSAGE) throw new WireError('message longer than 65535 octets');
  const flags = u16(bytes, 2);
  const counts = [u16(bytes, 4), u16(bytes, 6), u16(bytes, 8), u16(bytes, 10)] as const;
  let pos = 12;
  const questions: DnsQuestion[] = [];
  for (let i = 0; i < counts[0]; i++) {
    const { name, next } = readName(bytes, pos);
    questions.push({ name, type: u16(bytes, next), class: u16(bytes, next + 2) });
    pos = next + 4;
  }
  const sections: DnsRecord[][] = [[], [], []];
  let edns: EdnsInfo | undefined;
  for (let s = 0; s < 3; s++) {
    for (let i = 0; i < counts[s + 1]!; i++) {
      const { name, next } = readName(bytes, pos);
      const type = u16(bytes, next);
      const rrClass = u16(bytes, next + 2);
      const rawTtl = u32(bytes, next + 4);
      const rdlength = u16(bytes, next + 8);
      const start = next + 10;
      const end = start + rdlength;
      if (end > bytes.length) throw new WireError('rdata runs past the end of the message');
      pos = end;
      if (type === RR_TYPE.OPT) {
        if (s !== 2 || edns !== undefined || name !== '')
          throw new WireError('misplaced or repeated OPT record');
        edns = {
          udpSize: rrClass,
          extendedRcode: rawTtl >>> 24,
          version: (rawTtl >>> 16) & 0xff,
          dnssecOk: (rawTtl & 0x8000) !== 0,
        };
        continue;
      }
      // RFC 2181 8: a TTL with the top bit set is treated as zero.
      const ttl = rawTtl >= 0x80000000 ? 0 : rawTtl;
      sections[s]!.push({ name, class: rrClass, ttl, ...decodeRdata(bytes, type, start, end) });
    }
  }
  return {
    id: u16(bytes, 0),
    qr: (flags & 0x8000) !== 0,
    opcode: (flags >> 11) & 0xf,
    aa: (flags & 0x0400) !== 0,
    tc: (flags & 0x0200) !== 0,
    rd: (flags & 0x0100) !== 0,
    ra: (flags & 0x0080) !== 0,
    ad: (flags & 0x0020) !== 0,
    cd: (flags & 0x0010) !== 0,
    rcode: flags & 0xf,
    questions,
    answers: sections[0]!,
    authority: sections[1]!,
    additional: sections[2]!,
    ...(edns === undefined ? {} : { edns }),
  };
}

/** Parses a whole message. Never throws; trailing bytes after the last record are ignored. */
export function decodeMessage(bytes: Uint8Array): DecodeResult {
  try {
    return { ok: true, message: decodeOrThrow(bytes) };
  } catch (error) {
    if (error instanceof WireError) return { ok: false, error: error.message };
    throw error;
  }
}

/** The numeric type of a record (its RR_TYPE code, or the code kept for unknown types). */
export function recordTypeCode(record: DnsRecordData): number {
  return record.type === 'UNKNOWN' ? record.code : RR_TYPE[record.type];
}
