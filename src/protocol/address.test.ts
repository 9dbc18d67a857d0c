/**
 * Tests for address.ts: RFC 5321 Mailbox syntax (Dot-string, Quoted-string, domains,
 * address literals), RFC 6531 UTF-8 addresses, length limits, error codes, and the
 * formatMailbox round trip.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatMailbox, type Mailbox, parseAddressLiteral, parseDomain, parseMailbox } from './address.ts';

const ASCII: { readonly allowUtf8: boolean } = { allowUtf8: false };
const UTF8: { readonly allowUtf8: boolean } = { allowUtf8: true };

function ok(text: string, options = ASCII): Mailbox {
  const result = parseMailbox(text, options);
  assert.ok(result.ok, `${text}: ${result.ok ? '' : result.message}`);
  return result.value;
}

function fails(text: string, options = ASCII): { code: number; enhanced: string } {
  const result = parseMailbox(text, options);
  assert.ok(!result.ok, `${JSON.stringify(text)} should fail`);
  return { code: result.code, enhanced: result.enhanced };
}

describe('parseMailbox: valid', () => {
  const cases: [string, string, string, boolean?][] = [
    ['user@example.org', 'user', 'example.org'],
    ['User.Name@Example.ORG', 'User.Name', 'example.org'],
    ["a!#$%&'*+-/=?^_`{|}~z@x.test", "a!#$%&'*+-/=?^_`{|}~z", 'x.test'],
    ['u%example.org@local.test', 'u%example.org', 'local.test'],
    ['u!example.org@local.test', 'u!example.org', 'local.test'],
    ['"u@example.org"@local.test', 'u@example.org', 'local.test'],
    ['"a b"@x.test', 'a b', 'x.test'],
    ['"a\\"b\\\\c"@x.test', 'a"b\\c', 'x.test'],
    ['"abc"@x.test', 'abc', 'x.test'],
    ['""@x.test', '', 'x.test'],
    ['u@1.2.3.4', 'u', '1.2.3.4'],
    ['u@a-b.c--d.test', 'u', 'a-b.c--d.test'],
    ['u@xn--bcher-kva.test', 'u', 'xn--bcher-kva.test'],
    ['u@[192.0.2.1]', 'u', '[192.0.2.1]', true],
    ['u@[IPv6:2001:DB8::1]', 'u', '[IPv6:2001:db8::1]', true],
    ['u@[ipv6:::ffff:192.0.2.1]', 'u', '[IPv6:::ffff:192.0.2.1]', true],
    ['localhost@localhost', 'localhost', 'localhost'],
  ];
  for (const [text, local, domain, literal = false] of cases) {
    it(text, () => {
      assert.deepEqual(ok(text), { local, domain, addressLiteral: literal, utf8: false });
    });
  }
});

describe('parseMailbox: invalid', () => {
  const cases: [string, number, string][] = [
    ['', 501, '5.1.3'],
    ['user', 501, '5.1.3'],
    ['user@', 501, '5.1.3'],
    ['@example.org', 501, '5.1.3'],
    ['u@example.org@local.test', 501, '5.1.3'],
    ['u@@x.test', 501, '5.1.3'],
    ['.u@x.test', 501, '5.1.3'],
    ['u.@x.test', 501, '5.1.3'],
    ['u..v@x.test', 501, '5.1.3'],
    ['u v@x.test', 501, '5.1.3'],
    ['u(comment)@x.test', 501, '5.1.3'],
    ['u<x@x.test', 501, '5.1.3'],
    ['u\0@x.test', 501, '5.1.3'],
    ['"a\rb"@x.test', 501, '5.1.3'],
    ['"a\nb"@x.test', 501, '5.1.3'],
    ['"a\0b"@x.test', 501, '5.1.3'],
    ['"a\tb"@x.test', 501, '5.1.3'],
    ['"a\\\rb"@x.test', 501, '5.1.3'],
    ['"a\\\0b"@x.test', 501, '5.1.3'],
    ['"unterminated@x.test', 501, '5.1.3'],
    ['"a"b@x.test', 501, '5.1.3'],
    ['"a".b@x.test', 501, '5.1.3'],
    ['u@-x.test', 501, '5.1.3'],
    ['u@x-.test', 501, '5.1.3'],
    ['u@x..test', 501, '5.1.3'],
    ['u@x.test.', 501, '5.1.3'],
    ['u@.x.test', 501, '5.1.3'],
    ['u@x_y.test', 501, '5.1.3'],
    ['u@x.test ', 501, '5.1.3'],
    ['u@[1.2.3]', 501, '5.1.3'],
    ['u@[256.1.1.1]', 501, '5.1.3'],
    ['u@[01.2.3.4]', 501, '5.1.3'],
    ['u@[IPv6:fe80::1%eth0]', 501, '5.1.3'],
    ['u@[IPv6:1.2.3.4]', 501, '5.1.3'],
    ['u@[::1]', 501, '5.1.3'],
    ['u@[x-tag:stuff]', 501, '5.1.3'],
    ['u@[192.0.2.1', 501, '5.1.3'],
    ['u@[192.0.2.1]x', 501, '5.1.3'],
    [`${'a'.repeat(65)}@x.test`, 553, '5.1.3'],
    [`"${'a'.repeat(63)}"@x.test`, 553, '5.1.3'],
    [`u@${'a'.repeat(64)}.test`, 553, '5.1.3'],
    [`u@${'abcdefghi.'.repeat(25)}test`, 553, '5.1.3'],
    ['üser@x.test', 553, '5.6.7'],
    ['u@bücher.test', 553, '5.6.7'],
    ['"ü"@x.test', 553, '5.6.7'],
  ];
  for (const [text, code, enhanced] of cases) {
    it(`${JSON.stringify(text.length > 40 ? `${text.slice(0, 40)}...` : text)} -> ${code} ${enhanced}`, () => {
      assert.deepEqual(fails(text), { code, enhanced });
    });
  }

  it('allows exactly 64 octets of local part and 254 of mailbox', () => {
    ok(`${'a'.repeat(64)}@x.test`);
    const domain = `${'a'.repeat(63)}.${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(57)}`;
    assert.equal(`${'u'.repeat(4)}@${domain}`.length, 254);
    ok(`${'u'.repeat(4)}@${domain}`);
    assert.equal(fails(`${'u'.repeat(5)}@${domain}`).code, 553);
  });
});

describe('parseMailbox: SMTPUTF8 (RFC 6531)', () => {
  it('accepts UTF-8 local parts and domains when allowed, lower-casing the domain', () => {
    assert.deepEqual(ok('üser@Bücher.Test', UTF8), {
      local: 'üser',
      domain: 'bücher.test',
      addressLiteral: false,
      utf8: true,
    });
    assert.deepEqual(ok('"δοκιμή x"@παράδειγμα.δοκιμή', UTF8).local, 'δοκιμή x');
    assert.equal(ok('用户@例子.广告', UTF8).domain, '例子.广告');
    assert.equal(ok('😀@x.test', UTF8).local, '😀');
  });

  it('limits ASCII labels to 63 octets in a UTF-8 domain too', () => {
    assert.deepEqual(fails(`u@bü.${'a'.repeat(64)}.test`, UTF8), { code: 553, enhanced: '5.1.3' });
    ok(`u@bü.${'a'.repeat(63)}.test`, UTF8);
    assert.deepEqual(fails(`u@${'ü'.repeat(60)}.test`, UTF8), { code: 553, enhanced: '5.1.3' });
  });

  it('counts the local part limit in octets, not characters', () => {
    ok(`${'é'.repeat(32)}@x.test`, UTF8);
    assert.deepEqual(fails(`${'é'.repeat(33)}@x.test`, UTF8), { code: 553, enhanced: '5.1.3' });
  });

  const bad: [string, string][] = [
    ['u\u0085@x.test', 'C1 control'],
    ['u\uFFFD@x.test', 'replacement character'],
    ['u\uD800@x.test', 'lone surrogate'],
    ['u\u2028@x.test', 'line separator'],
    ['u@b\u00fccher\u3002test', 'ideographic full stop in a label'],
    ['u@a\u00a0b.test', 'no-break space in a label'],
    ['u@-bü.test', 'U-label starting with a hyphen'],
    ['u@bü-.test', 'U-label ending with a hyphen'],
    ['"a\\ü"@x.test', 'UTF-8 in a quoted pair'],
  ];
  for (const [text, why] of bad) {
    it(`refuses ${why}`, () => assert.equal(fails(text, UTF8).code, 501));
  }
});

describe('parseDomain and parseAddressLiteral', () => {
  it('validates domains on their own', () => {
    assert.deepEqual(parseDomain('MX.Example.ORG', false), { ok: true, value: 'mx.example.org' });
    assert.equal(parseDomain('a'.repeat(64), false).ok, false);
    assert.equal(parseDomain('a'.repeat(63), false).ok, true);
    assert.equal(parseDomain('bücher.test', false).ok, false);
    assert.equal(parseDomain('bücher.test', true).ok, true);
  });
  it('canonicalizes IPv6 literals and keeps IPv4 ones', () => {
    assert.deepEqual(parseAddressLiteral('[IPV6:2001:DB8::A]'), { ok: true, value: '[IPv6:2001:db8::a]' });
    assert.deepEqual(parseAddressLiteral('[127.0.0.1]'), { ok: true, value: '[127.0.0.1]' });
    assert.equal(parseAddressLiteral('[]').ok, false);
  });
});

describe('formatMailbox', () => {
  const cases: [string, string][] = [
    ['user@example.org', 'user@example.org'],
    ['"user"@example.org', 'user@example.org'],
    ['"a b"@x.test', '"a b"@x.test'],
    ['"a\\"b"@x.test', '"a\\"b"@x.test'],
    ['"a\\\\b"@x.test', '"a\\\\b"@x.test'],
    ['"u@example.org"@local.test', '"u@example.org"@local.test'],
    ['".a"@x.test', '".a"@x.test'],
    ['"a..b"@x.test', '"a..b"@x.test'],
    ['""@x.test', '""@x.test'],
    ['u@[IPv6:2001:db8::1]', 'u@[IPv6:2001:db8::1]'],
  ];
  for (const [input, expected] of cases) {
    it(`${input} -> ${expected}`, () => {
      const mailbox = ok(input);
      assert.equal(formatMailbox(mailbox), expected);
      assert.deepEqual(ok(formatMailbox(mailbox)), mailbox);
    });
  }
  it('formats UTF-8 mailboxes and the bare postmaster', () => {
    assert.equal(formatMailbox(ok('"ü ser"@bücher.test', UTF8)), '"ü ser"@bücher.test');
    assert.equal(
      formatMailbox({ local: 'Postmaster', domain: '', addressLiteral: false, utf8: false }),
      'Postmaster',
    );
  });
});
