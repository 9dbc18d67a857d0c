/** IP text <-> bytes, RFC 5952 formatting and reverse names, including inputs that are not addresses. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { canonicalIp, formatIPv6, parseIPv4, parseIPv6, reverseName } from './ip.ts';

test('IPv4 parses to four bytes and rejects non-addresses', () => {
  assert.deepEqual([...parseIPv4('192.0.2.10')!], [192, 0, 2, 10]);
  assert.equal(parseIPv4('192.0.2'), undefined);
  assert.equal(parseIPv4('256.0.0.1'), undefined);
  assert.equal(parseIPv4('::1'), undefined);
});

test('IPv6 parses with :: and an IPv4 tail', () => {
  assert.deepEqual([...parseIPv6('::1')!], [...new Array(15).fill(0), 1]);
  assert.deepEqual([...parseIPv6('2001:db8::ff00:42:8329')!].slice(0, 4), [0x20, 0x01, 0x0d, 0xb8]);
  assert.deepEqual([...parseIPv6('::ffff:192.0.2.1')!].slice(10), [0xff, 0xff, 192, 0, 2, 1]);
  assert.equal(parseIPv6('1::2::3'), undefined);
  assert.equal(parseIPv6('fe80::1%eth0'), undefined);
  assert.equal(parseIPv6('192.0.2.1'), undefined);
});

test('IPv6 text is RFC 5952 canonical', () => {
  const cases: [string, string][] = [
    ['2001:0DB8:0000:0000:0000:0000:0000:0001', '2001:db8::1'],
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
    ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'],
    ['0:0:0:0:0:0:0:0', '::'],
    ['1:0:0:0:0:0:0:0', '1::'],
    ['::ffff:192.0.2.1', '::ffff:c000:201'],
  ];
  for (const [input, expected] of cases) {
    assert.equal(formatIPv6(parseIPv6(input)!), expected, input);
    assert.equal(canonicalIp(input), expected);
  }
  assert.equal(canonicalIp('example.com'), undefined);
});

test('reverse names for PTR lookups', () => {
  assert.equal(reverseName('192.0.2.10'), '10.2.0.192.in-addr.arpa');
  assert.equal(
    reverseName('2001:db8::567:89ab'),
    'b.a.9.8.7.6.5.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa',
  );
  assert.equal(reverseName('not-an-ip'), undefined);
});
