import assert from 'node:assert/strict';
import { isIP } from 'node:net';
import { test } from 'node:test';
import { canonicalIp, cidrContains, parseCidr, parseCidrs, parseIp } from './cidr.ts';
import { FieldProblem } from './errors.ts';

test('parseIp agrees with node:net on valid and invalid text', () => {
  const samples = [
    '127.0.0.1',
    '0.0.0.0',
    '255.255.255.255',
    '256.1.1.1',
    '1.2.3',
    '1.2.3.4.5',
    '01.2.3.4',
    '1.2.3.-4',
    ' 1.2.3.4',
    '::',
    '::1',
    '1::',
    'fe80::1',
    '2001:db8::8:800:200c:417a',
    '2001:DB8:0:0:8:800:200C:417A',
    '1:2:3:4:5:6:7:8',
    '1:2:3:4:5:6:7:8:9',
    '1:2:3:4:5:6:7::',
    '::2:3:4:5:6:7:8',
    '1::2::3',
    ':1::',
    '1:::2',
    '12345::',
    'g::1',
    '::ffff:1.2.3.4',
    '::1.2.3.4',
    '1:2:3:4:5:6:1.2.3.4',
    '1:2:3:4:5:6:7:1.2.3.4',
    '::ffff:1.2.3',
    'fe80::1%eth0',
    '',
    ':',
    'abc',
  ];
  for (const text of samples) {
    assert.equal(parseIp(text) !== undefined, isIP(text) !== 0, text);
  }
});

test('parseIp bytes and IPv4-mapped reduction', () => {
  assert.deepEqual(parseIp('10.1.2.3'), { family: 4, bytes: new Uint8Array([10, 1, 2, 3]) });
  assert.deepEqual(parseIp('::ffff:10.1.2.3'), { family: 4, bytes: new Uint8Array([10, 1, 2, 3]) });
  assert.deepEqual(parseIp('::ffff:a01:203'), { family: 4, bytes: new Uint8Array([10, 1, 2, 3]) });
  const v6 = parseIp('2001:db8::1');
  assert.equal(v6?.family, 6);
  assert.deepEqual(Array.from(v6?.bytes ?? []), [0x20, 0x01, 0x0d, 0xb8, ...new Array(11).fill(0), 1]);
  assert.equal(canonicalIp('2001:DB8:0:0:0:0:0:1'), '2001:db8::1');
  assert.equal(canonicalIp('1:0:0:2:0:0:0:3'), '1:0:0:2::3');
  assert.equal(canonicalIp('1:2:3:4:5:6:7:8'), '1:2:3:4:5:6:7:8');
  assert.equal(canonicalIp('::'), '::');
});

test('parseCidr canonical forms', () => {
  const cases: [string, string][] = [
    ['10.0.0.0/8', '10.0.0.0/8'],
    ['192.0.2.7', '192.0.2.7/32'],
    ['0.0.0.0/0', '0.0.0.0/0'],
    ['::1', '::1/128'],
    ['FD00::/8', 'fd00::/8'],
    ['::/0', '::/0'],
    ['::ffff:10.0.0.0/104', '10.0.0.0/8'],
    ['::ffff:0:0/96', '0.0.0.0/0'],
    [' 172.16.0.0/12 ', '172.16.0.0/12'],
  ];
  for (const [input, text] of cases) assert.equal(parseCidr(input).text, text, input);
});

test('parseCidr refusals', () => {
  const cases: [string, RegExp][] = [
    ['10.0.0.0/33', /prefix length 0-32/],
    ['fd00::/129', /prefix length 0-128/],
    ['10.0.0.0/', /prefix length/],
    ['10.0.0.0/8/8', /prefix length/],
    ['10.0.0.1/8', /host bits are set \(did you mean 10\.0\.0\.0\/8\?\)/],
    ['fd00::1/8', /did you mean fd00::\/8\?/],
    ['::ffff:10.0.0.0/64', /at least 96/],
    ['fe80::/10%eth0', /prefix length/],
    ['fe80::%eth0/10', /zone/],
    ['example.com/8', /expected a CIDR block/],
    ['', /expected a CIDR block/],
  ];
  for (const [input, message] of cases)
    assert.throws(
      () => parseCidr(input),
      (e: unknown) => e instanceof FieldProblem && message.test(e.message),
      input,
    );
});

test('cidrContains', () => {
  const nets = ['127.0.0.0/8', '::1/128', '10.20.0.0/14', '2001:db8:abcd::/48'];
  const cases: [string, boolean][] = [
    ['127.0.0.1', true],
    ['127.255.255.254', true],
    ['128.0.0.1', false],
    ['::1', true],
    ['::2', false],
    ['::ffff:127.0.0.1', true],
    ['::ffff:7f00:1', true],
    ['::ffff:128.0.0.1', false],
    ['10.20.0.1', true],
    ['10.23.255.255', true],
    ['10.24.0.0', false],
    ['10.19.255.255', false],
    ['2001:db8:abcd:1::5', true],
    ['2001:db8:abce::5', false],
    ['fe80::1%lo', false],
    ['not an ip', false],
    ['', false],
  ];
  for (const [ip, expected] of cases) assert.equal(cidrContains(nets, ip), expected, ip);
  const parsed = parseCidrs(nets);
  for (const [ip, expected] of cases) assert.equal(cidrContains(parsed, ip), expected, `parsed ${ip}`);
  assert.equal(cidrContains(['0.0.0.0/0'], '::ffff:203.0.113.9'), true);
  assert.equal(cidrContains(['0.0.0.0/0'], '2001:db8::1'), false);
  assert.equal(cidrContains(['::/0'], '2001:db8::1'), true);
  assert.equal(cidrContains([], '127.0.0.1'), false);
  assert.equal(cidrContains(['::ffff:0:0/96'], '198.51.100.1'), true);
});
