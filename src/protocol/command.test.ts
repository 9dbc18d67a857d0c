/**
 * Tests for command.ts: splitting command lines into keyword, verb and arguments, and
 * validating EHLO/HELO arguments.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type CommandLine, parseCommandLine, parseHeloArgument } from './command.ts';

describe('parseCommandLine', () => {
  const cases: [string, CommandLine][] = [
    ['MAIL FROM:<a@b>', { verb: 'MAIL', keyword: 'MAIL', args: 'FROM:<a@b>' }],
    ['mail from:<a@b>', { verb: 'MAIL', keyword: 'MAIL', args: 'from:<a@b>' }],
    ['rCpT TO:<a@b> NOTIFY=NEVER', { verb: 'RCPT', keyword: 'RCPT', args: 'TO:<a@b> NOTIFY=NEVER' }],
    ['DATA', { verb: 'DATA', keyword: 'DATA', args: '' }],
    ['DATA   ', { verb: 'DATA', keyword: 'DATA', args: '' }],
    ['QUIT \t ', { verb: 'QUIT', keyword: 'QUIT', args: '' }],
    ['EHLO client.test  ', { verb: 'EHLO', keyword: 'EHLO', args: 'client.test' }],
    ['MAIL  FROM:<a@b>', { verb: 'MAIL', keyword: 'MAIL', args: ' FROM:<a@b>' }],
    ['BDAT 100 LAST', { verb: 'BDAT', keyword: 'BDAT', args: '100 LAST' }],
    ['starttls', { verb: 'STARTTLS', keyword: 'STARTTLS', args: '' }],
    ['AUTH PLAIN AGI=', { verb: 'AUTH', keyword: 'AUTH', args: 'PLAIN AGI=' }],
    ['', { verb: null, keyword: '', args: '' }],
    [' MAIL FROM:<a@b>', { verb: null, keyword: '', args: 'MAIL FROM:<a@b>' }],
    ['MAIL\tFROM:<a@b>', { verb: null, keyword: 'MAIL\tFROM:<A@B>', args: '' }],
    ['XCLIENT ADDR=1.2.3.4', { verb: null, keyword: 'XCLIENT', args: 'ADDR=1.2.3.4' }],
    ['GET / HTTP/1.1', { verb: null, keyword: 'GET', args: '/ HTTP/1.1' }],
    ['constructor x', { verb: null, keyword: 'CONSTRUCTOR', args: 'x' }],
    ['__proto__', { verb: null, keyword: '__PROTO__', args: '' }],
    // Unicode case mapping must not create verbs: "ſ".toUpperCase() === "S".
    ['ſtarttls', { verb: null, keyword: 'ſTARTTLS', args: '' }],
    ['RSET\0', { verb: null, keyword: 'RSET\0', args: '' }],
  ];
  for (const [line, expected] of cases) {
    it(JSON.stringify(line), () => assert.deepEqual(parseCommandLine(line), expected));
  }
  it('recognises every verb', () => {
    for (const verb of [
      'HELO',
      'EHLO',
      'MAIL',
      'RCPT',
      'DATA',
      'BDAT',
      'RSET',
      'NOOP',
      'QUIT',
      'VRFY',
      'EXPN',
      'HELP',
    ]) {
      assert.equal(parseCommandLine(verb.toLowerCase()).verb, verb);
    }
  });
});

describe('parseHeloArgument', () => {
  const valid = [
    'client.example.org',
    'Client.Example.ORG',
    'localhost',
    'a',
    '1.2.3.4',
    'xn--bcher-kva.test',
    '[192.0.2.1]',
    '[IPv6:2001:db8::1]',
    '[ipv6:::1]',
  ];
  for (const arg of valid) {
    it(`accepts ${arg} as sent`, () => assert.deepEqual(parseHeloArgument(arg), { ok: true, value: arg }));
  }
  const invalid = [
    '',
    'client.example.org extra',
    'client_name.test',
    'client.example.org.',
    '-client.test',
    'client..test',
    '[1.2.3]',
    '[2001:db8::1]',
    '[IPv6:fe80::1%25eth0]',
    'bücher.test',
    'a\rb',
    'a\0b',
    `${'a'.repeat(64)}.test`,
    'a.'.repeat(130),
  ];
  for (const arg of invalid) {
    it(`refuses ${JSON.stringify(arg.slice(0, 30))}`, () => {
      const result = parseHeloArgument(arg);
      assert.ok(!result.ok);
      assert.equal(result.code, 501);
      assert.equal(result.enhanced, '5.5.4');
    });
  }
  it('accepts U-labels only when asked to', () => {
    assert.deepEqual(parseHeloArgument('bücher.test', { allowUtf8: true }), {
      ok: true,
      value: 'bücher.test',
    });
    assert.equal(parseHeloArgument('b\u0085cher.test', { allowUtf8: true }).ok, false);
  });
});
