/**
 * Tests for mail-params.ts: MAIL FROM / RCPT TO paths and ESMTP parameters (SIZE,
 * BODY, SMTPUTF8, RET, ENVID, AUTH, NOTIFY, ORCPT), error codes, and the classic
 * relay-test address forms, which must all resolve to the right FINAL domain.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  decodeUtf8AddrXtext,
  type MailFrom,
  parseMailFrom,
  parseRcptTo,
  type RcptTo,
} from './mail-params.ts';

const ALL: { readonly utf8: boolean; readonly dsn: boolean } = { utf8: true, dsn: true };
const NONE: { readonly utf8: boolean; readonly dsn: boolean } = { utf8: false, dsn: false };

function mailOk(args: string, ext = ALL): MailFrom {
  const result = parseMailFrom(args, ext);
  assert.ok(result.ok, `${args}: ${result.ok ? '' : `${result.code} ${result.message}`}`);
  return result.value;
}

function rcptOk(args: string, ext = ALL): RcptTo {
  const result = parseRcptTo(args, ext);
  assert.ok(result.ok, `${args}: ${result.ok ? '' : `${result.code} ${result.message}`}`);
  return result.value;
}

function code(result: ReturnType<typeof parseMailFrom> | ReturnType<typeof parseRcptTo>): string {
  return result.ok ? 'ok' : `${result.code} ${result.enhanced}`;
}

const box = (local: string, domain: string, addressLiteral = false, utf8 = false) => ({
  local,
  domain,
  addressLiteral,
  utf8,
});

describe('parseMailFrom', () => {
  it('parses a plain path', () => {
    assert.deepEqual(mailOk('FROM:<a@b.test>'), { reversePath: box('a', 'b.test'), smtputf8: false });
  });
  it('parses the null path', () => {
    assert.deepEqual(mailOk('FROM:<>'), { reversePath: null, smtputf8: false });
  });
  it('parses every parameter', () => {
    assert.deepEqual(
      mailOk('from:<a@B.test> size=100 body=8bitmime SMTPUTF8 RET=hdrs ENVID=x+2By AUTH=u+40b.test'),
      {
        reversePath: box('a', 'b.test'),
        size: 100,
        body: '8BITMIME',
        smtputf8: true,
        ret: 'HDRS',
        envid: 'x+y',
        auth: 'u@b.test',
      },
    );
  });
  it('accepts one space after the colon and several between parameters', () => {
    assert.equal(mailOk('FROM: <a@b.test>').reversePath?.local, 'a');
    assert.equal(mailOk('FROM:<a@b.test>  SIZE=5').size, 5);
  });
  it('accepts and drops a source route', () => {
    assert.deepEqual(mailOk('FROM:<@relay.test,@other.test:a@b.test>').reversePath, box('a', 'b.test'));
  });
  it('keeps AUTH=<>', () => assert.equal(mailOk('FROM:<a@b.test> AUTH=<>').auth, '<>'));
  it('accepts SIZE up to 2^53', () => {
    assert.equal(mailOk(`FROM:<> SIZE=${2 ** 53}`).size, 2 ** 53);
    assert.equal(mailOk('FROM:<> SIZE=0').size, 0);
  });
  it('enables UTF-8 for the path only with its own SMTPUTF8 parameter', () => {
    assert.deepEqual(
      mailOk('FROM:<ü@bücher.test> SMTPUTF8').reversePath,
      box('ü', 'bücher.test', false, true),
    );
    assert.equal(code(parseMailFrom('FROM:<ü@bücher.test>', ALL)), '553 5.6.7');
    assert.equal(code(parseMailFrom('FROM:<ü@bücher.test> SMTPUTF8', NONE)), '555 5.5.4');
  });

  const errors: [string, string, { utf8: boolean; dsn: boolean; auth?: boolean }?][] = [
    ['', '501 5.5.4'],
    ['FROM:', '501 5.5.4'],
    ['FROM:a@b.test', '501 5.5.4'],
    ['FROM <a@b.test>', '501 5.5.4'],
    ['FROM:  <a@b.test>', '501 5.5.4'],
    ['FROM:<a@b.test', '501 5.5.4'],
    ['FROM:<a@b.test>SIZE=1', '501 5.5.4'],
    ['TO:<a@b.test>', '501 5.5.4'],
    ['FROM:<a@b.test> SIZE', '501 5.5.4'],
    ['FROM:<a@b.test> SIZE=', '501 5.5.4'],
    ['FROM:<a@b.test> SIZE=-1', '501 5.5.4'],
    ['FROM:<a@b.test> SIZE=1e3', '501 5.5.4'],
    ['FROM:<a@b.test> SIZE=0x10', '501 5.5.4'],
    [`FROM:<a@b.test> SIZE=${2 ** 53 + 2}`, '501 5.5.4'],
    ['FROM:<a@b.test> SIZE=99999999999999999999', '501 5.5.4'],
    ['FROM:<a@b.test> SIZE=1 SIZE=1', '501 5.5.4'],
    ['FROM:<a@b.test> size=1 SIZE=2', '501 5.5.4'],
    ['FROM:<a@b.test> BODY=BINARYMIME', '555 5.5.4'],
    ['FROM:<a@b.test> BODY=9BIT', '501 5.5.4'],
    ['FROM:<a@b.test> BODY=8bıtmime', '501 5.5.4'],
    ['FROM:<a@b.test> SMTPUTF8=yes', '501 5.5.4'],
    ['FROM:<a@b.test> RET=ALL', '501 5.5.4'],
    ['FROM:<a@b.test> ENVID=a+0D+0Ab', '501 5.5.4'],
    ['FROM:<a@b.test> ENVID=a+00', '501 5.5.4'],
    ['FROM:<a@b.test> ENVID=a+2b', '501 5.5.4'],
    [`FROM:<a@b.test> ENVID=${'x'.repeat(101)}`, '501 5.5.4'],
    ['FROM:<a@b.test> AUTH=a+0A', '501 5.5.4'],
    ['FROM:<a@b.test> AUTH=<>', '555 5.5.4', { utf8: true, dsn: true, auth: false }],
    ['FROM:<a@b.test> X-UNKNOWN=1', '555 5.5.4'],
    ['FROM:<a@b.test> NOTIFY=NEVER', '555 5.5.4'],
    ['FROM:<a@b.test> -BAD=1', '501 5.5.4'],
    ['FROM:<a@b.test> K=a=b', '501 5.5.4'],
    ['FROM:<a@b.test> RET=FULL', '555 5.5.4', NONE],
    ['FROM:<a@b.test> ENVID=x', '555 5.5.4', NONE],
    ['FROM:<a@b.test> SMTPUTF8', '555 5.5.4', NONE],
    ['FROM:<a b@b.test>', '501 5.1.7'],
    ['FROM:<a@b.test@c.test>', '501 5.1.7'],
    ['FROM:<@:a@b.test>', '501 5.1.7'],
    ['FROM:<@[1.2.3.4]:a@b.test>', '501 5.1.7'],
    ['FROM:<Postmaster>', '501 5.1.7'],
    [`FROM:<${'a'.repeat(65)}@b.test>`, '553 5.1.7'],
    ['FROM:<a@b.test>\r\nRCPT TO:<x@y.test>', '501 5.5.4'],
  ];
  for (const [args, expected, ext = ALL] of errors) {
    it(`${JSON.stringify(args.slice(0, 60))} -> ${expected}`, () =>
      assert.equal(code(parseMailFrom(args, ext)), expected));
  }
});

describe('parseRcptTo', () => {
  it('parses a plain path', () => {
    assert.deepEqual(rcptOk('TO:<x@y.test>'), { forwardPath: box('x', 'y.test'), postmaster: false });
  });
  it('parses NOTIFY and ORCPT', () => {
    assert.deepEqual(rcptOk('to:<x@y.test> NOTIFY=success,FAILURE ORCPT=rfc822;x+2Bz@y.test'), {
      forwardPath: box('x', 'y.test'),
      postmaster: false,
      notify: ['SUCCESS', 'FAILURE'],
      orcpt: { addrType: 'rfc822', address: 'x+z@y.test' },
    });
    assert.equal(rcptOk('TO:<x@y.test> NOTIFY=NEVER').notify, 'NEVER');
    assert.deepEqual(rcptOk('TO:<x@y.test> NOTIFY=DELAY').notify, ['DELAY']);
  });
  it('decodes utf-8 ORCPT values (RFC 6533)', () => {
    assert.deepEqual(
      rcptOk('TO:<x@y.test> ORCPT=UTF-8;caf\\x{E9}@y.test', { utf8: false, dsn: true }).orcpt,
      {
        addrType: 'utf-8',
        address: 'café@y.test',
      },
    );
    assert.equal(rcptOk('TO:<x@y.test> ORCPT=utf-8;café@y.test').orcpt?.address, 'café@y.test');
    assert.equal(rcptOk('TO:<x@y.test> ORCPT=utf-8;\\x{1F600}@y.test').orcpt?.address, '😀@y.test');
  });
  it('recognises the bare Postmaster in any case', () => {
    for (const name of ['Postmaster', 'postmaster', 'POSTMASTER']) {
      assert.deepEqual(rcptOk(`TO:<${name}>`), { forwardPath: box(name, ''), postmaster: true });
    }
    assert.deepEqual(rcptOk('TO:<postmaster@y.test>'), {
      forwardPath: box('postmaster', 'y.test'),
      postmaster: false,
    });
  });
  it('allows UTF-8 addresses only when the transaction has SMTPUTF8', () => {
    assert.deepEqual(rcptOk('TO:<ü@bücher.test>').forwardPath, box('ü', 'bücher.test', false, true));
    assert.equal(code(parseRcptTo('TO:<ü@bücher.test>', NONE)), '553 5.6.7');
  });

  const errors: [string, string, { utf8: boolean; dsn: boolean; auth?: boolean }?][] = [
    ['TO:<>', '501 5.1.3'],
    ['TO:', '501 5.5.4'],
    ['TO:x@y.test', '501 5.5.4'],
    ['FROM:<x@y.test>', '501 5.5.4'],
    ['TO:<x@y.test> NOTIFY=NEVER,SUCCESS', '501 5.5.4'],
    ['TO:<x@y.test> NOTIFY=SUCCESS,SUCCESS', '501 5.5.4'],
    ['TO:<x@y.test> NOTIFY=SUCCESS,', '501 5.5.4'],
    ['TO:<x@y.test> NOTIFY=SOMETIMES', '501 5.5.4'],
    ['TO:<x@y.test> NOTIFY=ſuccess', '501 5.5.4'],
    ['TO:<x@y.test> NOTIFY', '501 5.5.4'],
    ['TO:<x@y.test> NOTIFY=NEVER NOTIFY=NEVER', '501 5.5.4'],
    ['TO:<x@y.test> ORCPT=x@y.test', '501 5.5.4'],
    ['TO:<x@y.test> ORCPT=;x@y.test', '501 5.5.4'],
    ['TO:<x@y.test> ORCPT=rfc822;', '501 5.5.4'],
    ['TO:<x@y.test> ORCPT=rfc822;x+0D+0A@y.test', '501 5.5.4'],
    ['TO:<x@y.test> ORCPT=rfc822;x+C3+A9@y.test', '501 5.5.4'],
    ['TO:<x@y.test> ORCPT=utf-8;x\\x{0A}@y.test', '501 5.5.4'],
    ['TO:<x@y.test> ORCPT=utf-8;x\\x{D800}@y.test', '501 5.5.4'],
    ['TO:<x@y.test> ORCPT=utf-8;x\\x{110000}@y.test', '501 5.5.4'],
    ['TO:<x@y.test> ORCPT=utf-8;x\ud800@y.test', '501 5.5.4'],
    ['TO:<x@y.test> ORCPT=utf-8;x\u0085@y.test', '501 5.5.4'],
    ['TO:<x@y.test> ORCPT=utf-8;x\\x{e9}@y.test', '501 5.5.4'],
    ['TO:<x@y.test> ORCPT=utf-8;x\\y@y.test', '501 5.5.4'],
    [`TO:<x@y.test> ORCPT=rfc822;${'x'.repeat(500)}`, '501 5.5.4'],
    ['TO:<x@y.test> ORCPT=utf-8;café@y.test', '501 5.5.4', { utf8: false, dsn: true }],
    ['TO:<x@y.test> NOTIFY=NEVER', '555 5.5.4', NONE],
    ['TO:<x@y.test> ORCPT=rfc822;x@y.test', '555 5.5.4', NONE],
    ['TO:<x@y.test> SIZE=1', '555 5.5.4'],
    ['TO:<x y@y.test>', '501 5.1.3'],
    ['TO:<Postmaster> x', '555 5.5.4'],
    ['TO:<Postmaster> =x', '501 5.5.4'],
  ];
  for (const [args, expected, ext = ALL] of errors) {
    it(`${JSON.stringify(args.slice(0, 60))} -> ${expected}`, () =>
      assert.equal(code(parseRcptTo(args, ext)), expected));
  }
});

describe('classic relay-test address forms', () => {
  // [path, final domain or null for an error, local part]
  const forms: [string, string | null, string?][] = [
    ['<u@example.org>', 'example.org', 'u'],
    ['<u%example.org@local.test>', 'local.test', 'u%example.org'],
    ['<u%example.org@[127.0.0.1]>', '[127.0.0.1]', 'u%example.org'],
    ['<"u@example.org"@local.test>', 'local.test', 'u@example.org'],
    ['<"u%example.org"@local.test>', 'local.test', 'u%example.org'],
    ['<"u@example.org"@[127.0.0.1]>', '[127.0.0.1]', 'u@example.org'],
    ['<@local.test:u@example.org>', 'example.org', 'u'],
    ['<@local.test,@other.test:u@example.org>', 'example.org', 'u'],
    ['<u!example.org@local.test>', 'local.test', 'u!example.org'],
    ['<example.org!u@local.test>', 'local.test', 'example.org!u'],
    ['<example.org!u%local.test@local.test>', 'local.test', 'example.org!u%local.test'],
    ['<u@example.org@local.test>', null],
    ['<u@example.org@[127.0.0.1]>', null],
    ['<u%example.org>', null],
    ['<example.org!u>', null],
    ['<"u@example.org">', null],
  ];
  assert.equal(forms.length, 16);
  for (const [path, domain, local] of forms) {
    it(`${path} -> ${domain ?? 'error'}`, () => {
      const result = parseRcptTo(`TO:${path}`, NONE);
      if (domain === null) {
        assert.ok(!result.ok);
        assert.equal(result.code, 501);
        return;
      }
      assert.ok(result.ok, path);
      assert.equal(result.value.forwardPath.domain, domain);
      assert.equal(result.value.forwardPath.local, local);
      assert.equal(result.value.postmaster, false);
    });
  }
});

describe('decodeUtf8AddrXtext', () => {
  const cases: [string, string | null][] = [
    ['plain@x.test', 'plain@x.test'],
    ['a\\x{41}b', 'aAb'],
    ['\\x{10FFFF}', '\u{10FFFF}'],
    ['a+2Bb', 'a+b'],
    ['a+C3', null],
    ['\\x{041}', null],
    ['\\x{4}', null],
    ['\\x{41', null],
    ['a=b', null],
    ['a b', null],
    ['ü', null],
  ];
  for (const [input, expected] of cases) {
    it(JSON.stringify(input), () => assert.equal(decodeUtf8AddrXtext(input, false), expected));
  }
});
