/**
 * DNS message encoding (RFC 1035 4.1 with 4.1.4 name compression, RFC 6891 OPT).
 *
 * Pure, no I/O. `encodeQuery` builds a recursion-desired query with one question
 * and an OPT record (1232-byte UDP size); `encodeMessage` builds any message (the
 * test DNS server uses it). Inputs are our own values: anything that cannot be
 * encoded (bad name, address, over-long TXT string, message over 65535 octets)
 * throws RangeError, which means a bug on our side, not bad network input.
 */
import { parseIPv4, parseIPv6 } from '../../protocol/ip.ts';
import {
  CLASS_IN,
  type DnsMessageInit,
  type DnsRecordData,
  EDNS_UDP_SIZE,
  MAX_MESSAGE,
  RR_TYPE,
  recordTypeCode,
} from './wire.ts';
import { nameToLabels } from './wire-name.ts';

/** Growable output buffer with RFC 1035 4.1.4 name compression. */
class Writer {
  #buffer = Buffer.alloc(512);
  #length = 0;
  #names = new Map<string, number>();

  #reserve(size: number): void {
    if (this.#length + size > MAX_MESSAGE) throw new RangeError('DNS message longer than 65535 octets');
    if (this.#length + size <= this.#buffer.length) return;
    const bigger = Buffer.alloc(
      Math.min(MAX_MESSAGE, Math.max(this.#buffer.length * 2, this.#length + size)),
    );
    this.#buffer.copy(bigger, 0, 0, this.#length);
    this.#buffer = bigger;
  }

  get length(): number {
    return this.#length;
  }

  u8(value: number): void {
    this.#reserve(1);
    this.#buffer[this.#length++] = value;
  }

  u16(value: number): void {
    this.#reserve(2);
    this.#buffer.writeUInt16BE(value, this.#length);
    this.#length += 2;
  }

  u32(value: number): void {
    this.#reserve(4);
    this.#buffer.writeUInt32BE(value >>> 0, this.#length);
    this.#length += 4;
  }

  bytes(data: Uint8Array): void {
    this.#reserve(data.length);
    this.#buffer.set(data, this.#length);
    this.#length += data.length;
  }

  setU16(offset: number, value: number): void {
    this.#buffer.writeUInt16BE(value, offset);
  }

  name(name: string, compress: boolean): void {
    const labels = nameToLabels(name);
    if (labels === undefined) throw new RangeError(`not an encodable DNS name: ${JSON.stringify(name)}`);
    for (let i = 0; i < labels.length; i++) {
      // Exact bytes (case kept, so names decode as given), length-prefixed so no suffixes collide.
      const key = labels
        .slice(i)
        .map((label) => `${label.length}:${Buffer.from(label).toString('latin1')}`)
        .join('');
      const known = this.#names.get(key);
      if (compress && known !== undefined) {
        this.u16(0xc000 | known);
        return;
      }
      if (this.#length < 0x3fff) this.#names.set(key, this.#length);
      this.u8(labels[i]!.length);
      this.bytes(labels[i]!);
    }
    this.u8(0);
  }

  done(): Buffer {
    return Buffer.from(this.#buffer.subarray(0, this.#length));
  }
}

function writeRdata(w: Writer, record: DnsRecordData): void {
  switch (record.type) {
    case 'A':
    case 'AAAA': {
      const bytes = record.type === 'A' ? parseIPv4(record.address) : parseIPv6(record.address);
      if (bytes === undefined) throw new RangeError(`not an ${record.type} address: ${record.address}`);
      w.bytes(bytes);
      return;
    }
    case 'CNAME':
    case 'PTR':
    case 'NS':
      w.name(record.target, true);
      return;
    case 'MX':
      w.u16(record.preference);
      w.name(record.exchange, true);
      return;
    case 'TXT':
      for (const text of record.strings) {
        const bytes = Buffer.from(text, 'utf8');
        if (bytes.length > 255) throw new RangeError('TXT character-string longer than 255 octets');
        w.u8(bytes.length);
        w.bytes(bytes);
      }
      return;
    case 'SOA':
      w.name(record.mname, true);
      w.name(record.rname, true);
      for (const value of [record.serial, record.refresh, record.retry, record.expire, record.minimum])
        w.u32(value);
      return;
    case 'UNKNOWN':
      w.bytes(record.data);
      return;
    default:
      record satisfies never;
  }
}

/** Encodes a full message. Throws RangeError for unencodable names, addresses or sizes. */
export function encodeMessage(init: DnsMessageInit): Buffer {
  const w = new Writer();
  const questions = init.questions ?? [];
  const sections = [init.answers ?? [], init.authority ?? [], init.additional ?? []] as const;
  const flags =
    (init.qr ? 0x8000 : 0) |
    (((init.opcode ?? 0) & 0xf) << 11) |
    (init.aa ? 0x0400 : 0) |
    (init.tc ? 0x0200 : 0) |
    (init.rd ? 0x0100 : 0) |
    (init.ra ? 0x0080 : 0) |
    (init.ad ? 0x0020 : 0) |
    (init.cd ? 0x0010 : 0) |
    ((init.rcode ?? 0) & 0xf);
  w.u16(init.id & 0xffff);
  w.u16(flags);
  w.u16(questions.length);
  w.u16(sections[0].length);
  w.u16(sections[1].length);
  w.u16(sections[2].length + (init.edns === undefined ? 0 : 1));
  for (const q of questions) {
    w.name(q.name, true);
    w.u16(q.type);
    w.u16(q.class);
  }
  for (const section of sections) {
    for (const record of section) {
      w.name(record.name, true);
      w.u16(recordTypeCode(record));
      w.u16(record.class);
      w.u32(record.ttl);
      const lengthAt = w.length;
      w.u16(0);
      writeRdata(w, record);
      w.setU16(lengthAt, w.length - lengthAt - 2);
    }
  }
  if (init.edns !== undefined) {
    const e = init.edns;
    w.u8(0);
    w.u16(RR_TYPE.OPT);
    w.u16(e.udpSize);
    w.u32(((e.extendedRcode ?? 0) << 24) | ((e.version ?? 0) << 16) | (e.dnssecOk ? 0x8000 : 0));
    w.u16(0);
  }
  return w.done();
}

/** A recursion-desired query for one name and type, with EDNS0 (UDP size 1232). */
export function encodeQuery(query: { id: number; name: string; type: number; udpSize?: number }): Buffer {
  return encodeMessage({
    id: query.id,
    rd: true,
    questions: [{ name: query.name, type: query.type, class: CLASS_IN }],
    edns: { udpSize: query.udpSize ?? EDNS_UDP_SIZE },
  });
}
