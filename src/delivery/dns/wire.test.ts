/**
 * The wire codec on hand-built and encoded messages: round trips for every record
 * type, header bits, name escaping, and malformed input (pointer loops, bad lengths)
 * coming back as error values. Random inputs are in wire-fuzz.test.ts.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  CLASS_IN,
  type DnsMessage,
  type DnsRecord,
  decodeMessage,
  RCODE,
  RR_TYPE,
  typeName,
} from './wire.ts';
import { encodeMessage, encodeQuery } from './wire-encode.ts';
import { nameToLabels, readName } from './wire-name.ts';

function decoded(bytes: Uint8Array): DnsMessage {
  const result = decodeMessage(bytes);
  if (!result.ok) assert.fail(`decode failed: ${result.error}`);
  return result.message;
}

test('a query has RD, one question and an OPT record with UDP size 1232', () => {
  const bytes = encodeQuery({ id: 0xbeef, name: 'Example.COM', type: RR_TYPE.MX });
  // Header: id, flags RD only, QD=1 AN=0 NS=0 AR=1.
  assert.deepEqual([...bytes.subarray(0, 12)], [0xbe, 0xef, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 1]);
  const message = decoded(bytes);
  assert.equal(message.rd, true);
  assert.equal(message.qr, false);
  assert.deepEqual(message.questions, [{ name: 'Example.COM', type: RR_TYPE.MX, class: CLASS_IN }]);
  assert.deepEqual(message.edns, { udpSize: 1232, extendedRcode: 0, version: 0, dnssecOk: false });
  assert.deepEqual(message.additional, []);
});

test('every record type round-trips, with compression', () => {
  const answers: DnsRecord[] = [
    { name: 'mail.example.com', class: CLASS_IN, ttl: 300, type: 'A', address: '192.0.2.1' },
    { name: 'mail.example.com', class: CLASS_IN, ttl: 300, type: 'AAAA', address: '2001:db8::1' },
    {
      name: 'example.com',
      class: CLASS_IN,
      ttl: 60,
      type: 'MX',
      preference: 10,
      exchange: 'mail.example.com',
    },
    { name: 'example.com', class: CLASS_IN, ttl: 60, type: 'MX', preference: 0, exchange: '' },
    { name: 'example.com', class: CLASS_IN, ttl: 60, type: 'TXT', strings: ['v=spf1 ', '-all', 'é'] },
    { name: 'www.example.com', class: CLASS_IN, ttl: 5, type: 'CNAME', target: 'example.com' },
    { name: '1.2.0.192.in-addr.arpa', class: CLASS_IN, ttl: 5, type: 'PTR', target: 'mail.example.com' },
    { name: 'example.com', class: CLASS_IN, ttl: 5, type: 'NS', target: 'ns1.example.com' },
    { name: 'example.com', class: CLASS_IN, ttl: 5, type: 'UNKNOWN', code: 99, data: Uint8Array.of(1, 2, 3) },
  ];
  const authority: DnsRecord[] = [
    {
      name: 'example.com',
      class: CLASS_IN,
      ttl: 900,
      type: 'SOA',
      mname: 'ns1.example.com',
      rname: 'hostmaster.example.com',
      serial: 2024010101,
      refresh: 3600,
      retry: 600,
      expire: 4294967295,
      minimum: 120,
    },
  ];
  const init = {
    id: 7,
    qr: true,
    aa: true,
    rd: true,
    ra: true,
    rcode: RCODE.NOERROR,
    questions: [{ name: 'example.com', type: RR_TYPE.MX, class: CLASS_IN }],
    answers,
    authority,
    edns: { udpSize: 4096 },
  };
  const bytes = encodeMessage(init);
  const message = decoded(bytes);
  assert.deepEqual(message.answers, answers);
  assert.deepEqual(message.authority, authority);
  assert.equal(message.aa && message.ra && message.qr && !message.tc, true);
  assert.equal(message.edns?.udpSize, 4096);
  // Compression happened: 'example.com' appears in full only once.
  assert.equal(bytes.toString('latin1').split('\x07example\x03com\x00').length - 1, 1);
  // And re-encoding the decoded message gives the same bytes.
  assert.deepEqual(encodeMessage(message), bytes);
});

test('header flags and rcode are decoded bit by bit', () => {
  const message = decoded(
    encodeMessage({ id: 1, qr: true, opcode: 2, tc: true, ad: true, cd: true, rcode: RCODE.SERVFAIL }),
  );
  assert.deepEqual(
    [
      message.qr,
      message.opcode,
      message.aa,
      message.tc,
      message.rd,
      message.ra,
      message.ad,
      message.cd,
      message.rcode,
    ],
    [true, 2, false, true, false, false, true, true, 2],
  );
});

test('TTLs with the top bit set count as zero (RFC 2181)', () => {
  const bytes = encodeMessage({
    id: 1,
    answers: [{ name: 'a.test', class: CLASS_IN, ttl: 0x80000001, type: 'A', address: '192.0.2.1' }],
  });
  assert.equal(decoded(bytes).answers[0]?.ttl, 0);
});

test('names with dots or odd bytes inside a label stay one label', () => {
  const labels = nameToLabels('a\\.b.c\\032d.e\\\\');
  assert.deepEqual(
    labels?.map((l) => Buffer.from(l).toString('latin1')),
    ['a.b', 'c d', 'e\\'],
  );
  const bytes = encodeMessage({ id: 1, questions: [{ name: 'a\\.b.x\\000y', type: 1, class: 1 }] });
  assert.equal(decoded(bytes).questions[0]?.name, 'a\\.b.x\\000y');
  assert.equal(nameToLabels('a..b'), undefined);
  assert.equal(nameToLabels(`${'a'.repeat(64)}.com`), undefined);
  assert.equal(nameToLabels(Array(128).fill('ab').join('.')), undefined);
  assert.deepEqual(nameToLabels('example.com.')?.length, 2);
  assert.deepEqual(nameToLabels('.'), []);
  assert.equal(nameToLabels('bad\\25'), undefined);
  assert.equal(nameToLabels('bad\\256'), undefined);
});

function header(qd: number, an: number): number[] {
  return [0, 1, 0x81, 0x80, 0, qd, 0, an, 0, 0, 0, 0];
}

test('compression pointer loops and forward pointers are rejected, not followed', () => {
  // Question name at 12 is a pointer to itself.
  const self = Uint8Array.from([...header(1, 0), 0xc0, 12, 0, 1, 0, 1]);
  assert.equal(decodeMessage(self).ok, false);
  // A label then a pointer back to that label: a cycle.
  const cycle = Uint8Array.from([...header(1, 0), 1, 0x61, 0xc0, 12, 0, 1, 0, 1]);
  const result = decodeMessage(cycle);
  assert.equal(result.ok, false);
  // Forward pointer.
  const forward = Uint8Array.from([...header(1, 0), 0xc0, 20, 0, 1, 0, 1, 1, 0x61, 0]);
  assert.equal(decodeMessage(forward).ok, false);
  // A legitimate backward chain is followed.
  const good = Uint8Array.from([...header(2, 0), 1, 0x61, 0, 0, 1, 0, 1, 1, 0x62, 0xc0, 12, 0, 1, 0, 1]);
  assert.deepEqual(
    decoded(good).questions.map((q) => q.name),
    ['a', 'b.a'],
  );
  assert.deepEqual(readName(good, 19), { name: 'b.a', next: 23 });
});

test('malformed messages give an error value', () => {
  const cases: [string, number[]][] = [
    ['short header', [0, 1, 2]],
    ['question count beyond data', header(1, 0)],
    ['label past end', [...header(1, 0), 5, 0x61]],
    ['reserved label type', [...header(1, 0), 0x40, 0, 0, 1, 0, 1]],
    ['A rdata of 3 octets', [...header(0, 1), 0, 0, 1, 0, 1, 0, 0, 0, 5, 0, 3, 1, 2, 3]],
    ['rdata past end', [...header(0, 1), 0, 0, 1, 0, 1, 0, 0, 0, 5, 0, 9, 1, 2, 3]],
    ['MX name shorter than rdlength', [...header(0, 1), 0, 0, 15, 0, 1, 0, 0, 0, 5, 0, 5, 0, 1, 0, 0, 0]],
    ['TXT string past rdata', [...header(0, 1), 0, 0, 16, 0, 1, 0, 0, 0, 5, 0, 2, 5, 0x61]],
    ['OPT in the answer section', [...header(0, 1), 0, 0, 41, 4, 0, 0, 0, 0, 0, 0, 0]],
  ];
  for (const [label, bytes] of cases) {
    const result = decodeMessage(Uint8Array.from(bytes));
    assert.equal(result.ok, false, label);
    if (!result.ok) assert.match(result.error, /\w/);
  }
});

test('encoding refuses what cannot be encoded', () => {
  assert.throws(() => encodeQuery({ id: 1, name: 'a..b', type: 1 }), RangeError);
  assert.throws(
    () => encodeMessage({ id: 1, answers: [{ name: 'a', class: 1, ttl: 1, type: 'A', address: '::1' }] }),
    RangeError,
  );
  assert.throws(
    () =>
      encodeMessage({
        id: 1,
        answers: [{ name: 'a', class: 1, ttl: 1, type: 'TXT', strings: ['x'.repeat(256)] }],
      }),
    RangeError,
  );
});

test('type names', () => {
  assert.equal(typeName(15), 'MX');
  assert.equal(typeName(28), 'AAAA');
  assert.equal(typeName(65), 'TYPE65');
});
