/**
 * Fuzzes decodeMessage with a seeded PRNG: random packets and mutations of valid
 * ones. The decoder must never throw, must stay fast on every input, and every
 * name it returns must survive the text -> wire -> text round trip.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { seededRandom } from '../../../test/harness/prng.ts';
import { CLASS_IN, type DnsMessage, decodeMessage, RR_TYPE } from './wire.ts';
import { encodeMessage } from './wire-encode.ts';
import { nameToLabels } from './wire-name.ts';

function seeds(): Buffer[] {
  const q = { name: 'example.com', type: RR_TYPE.MX, class: CLASS_IN };
  return [
    encodeMessage({
      id: 1,
      qr: true,
      rd: true,
      ra: true,
      questions: [q],
      answers: [
        { name: 'example.com', class: 1, ttl: 60, type: 'MX', preference: 10, exchange: 'mx1.example.com' },
        { name: 'example.com', class: 1, ttl: 60, type: 'MX', preference: 20, exchange: 'mx2.example.com' },
        { name: 'mx1.example.com', class: 1, ttl: 60, type: 'CNAME', target: 'host.example.net' },
      ],
      additional: [
        { name: 'host.example.net', class: 1, ttl: 60, type: 'A', address: '192.0.2.1' },
        { name: 'host.example.net', class: 1, ttl: 60, type: 'AAAA', address: '2001:db8::1' },
      ],
      edns: { udpSize: 1232 },
    }),
    encodeMessage({
      id: 2,
      qr: true,
      rcode: 3,
      questions: [{ ...q, type: RR_TYPE.TXT }],
      answers: [{ name: 'example.com', class: 1, ttl: 1, type: 'TXT', strings: ['v=spf1', ' -all'] }],
      authority: [
        {
          name: 'example.com',
          class: 1,
          ttl: 300,
          type: 'SOA',
          mname: 'ns.example.com',
          rname: 'h.example.com',
          serial: 1,
          refresh: 2,
          retry: 3,
          expire: 4,
          minimum: 5,
        },
      ],
    }),
    encodeMessage({
      id: 3,
      questions: [{ name: '1.2.0.192.in-addr.arpa', type: RR_TYPE.PTR, class: CLASS_IN }],
      answers: [{ name: '1.2.0.192.in-addr.arpa', class: 1, ttl: 9, type: 'PTR', target: 'a.b.c.d.e.f.g' }],
    }),
  ];
}

const INTERESTING = [0x00, 0x01, 0x3f, 0x40, 0x7f, 0x80, 0xc0, 0xc0, 0xff, 12, 0x0c];

function mutate(input: Buffer, random: () => number): Buffer {
  let bytes = Buffer.from(input);
  const rounds = 1 + Math.floor(random() * 4);
  for (let r = 0; r < rounds; r++) {
    const at = Math.floor(random() * Math.max(1, bytes.length));
    switch (Math.floor(random() * 6)) {
      case 0:
        if (bytes.length > 0) bytes[at] = bytes[at]! ^ (1 << Math.floor(random() * 8));
        break;
      case 1:
        if (bytes.length > 0) bytes[at] = INTERESTING[Math.floor(random() * INTERESTING.length)]!;
        break;
      case 2:
        bytes = bytes.subarray(0, at);
        break;
      case 3: {
        // A compression pointer to a random earlier (or later) offset.
        const pointer = Buffer.from([0xc0 | Math.floor(random() * 4), Math.floor(random() * 256)]);
        bytes = Buffer.concat([bytes.subarray(0, at), pointer, bytes.subarray(at + 2)]);
        break;
      }
      case 4: {
        const from = Math.floor(random() * Math.max(1, bytes.length));
        bytes = Buffer.concat([bytes.subarray(0, at), bytes.subarray(from, from + 16), bytes.subarray(at)]);
        break;
      }
      default:
        // Inflate a section count.
        if (bytes.length >= 12) bytes[4 + 2 * Math.floor(random() * 4) + 1] = Math.floor(random() * 256);
    }
  }
  return bytes;
}

function randomPacket(random: () => number): Buffer {
  const length = Math.floor(random() * 600);
  const bytes = Buffer.alloc(length);
  for (let i = 0; i < length; i++) bytes[i] = Math.floor(random() * 256);
  if (length >= 12) {
    // Keep counts small most of the time so parsing goes past the header.
    for (let i = 4; i < 12; i += 2) {
      bytes[i] = 0;
      bytes[i + 1] = Math.floor(random() * 4);
    }
  }
  return bytes;
}

function checkNames(message: DnsMessage): void {
  const names = [
    ...message.questions.map((q) => q.name),
    ...[...message.answers, ...message.authority, ...message.additional].map((r) => r.name),
  ];
  for (const name of names) {
    assert.notEqual(nameToLabels(name), undefined, `decoded name not re-encodable: ${name}`);
    const again = decodeMessage(encodeMessage({ id: 0, questions: [{ name, type: 1, class: 1 }] }));
    assert.equal(again.ok && again.message.questions[0]?.name, name);
  }
}

// The decoder is synchronous: a loop regression would hang this test (and the run) rather than
// fail it neatly. The per-packet bound catches pathological slowness while leaving room for GC
// pauses on a loaded machine.
test('decoder survives 24,000 random and mutated packets', () => {
  const random = seededRandom(0x5eed_d15);
  const bases = seeds();
  let decodedOk = 0;
  let rejected = 0;
  let slowest = 0;
  for (let i = 0; i < 24_000; i++) {
    const packet = i % 4 === 0 ? randomPacket(random) : mutate(bases[i % bases.length]!, random);
    const t0 = performance.now();
    const result = decodeMessage(packet);
    slowest = Math.max(slowest, performance.now() - t0);
    if (result.ok) {
      decodedOk++;
      checkNames(result.message);
    } else {
      rejected++;
      assert.equal(typeof result.error, 'string');
    }
  }
  // Both paths were exercised, and nothing took long (a loop would show here).
  assert.ok(decodedOk > 1000, `only ${decodedOk} packets decoded`);
  assert.ok(rejected > 1000, `only ${rejected} packets rejected`);
  assert.ok(slowest < 500, `slowest decode took ${slowest.toFixed(1)} ms`);
});

test('unmutated seeds decode', () => {
  for (const seed of seeds()) assert.equal(decodeMessage(seed).ok, true);
});
