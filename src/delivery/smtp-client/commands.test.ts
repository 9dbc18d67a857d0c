// Pure command building: EHLO keyword parsing, local refusals, MAIL/RCPT parameters, input validation.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeXtext } from '../../protocol/xtext.ts';
import {
  localRefusal,
  mailCommand,
  orcptValue,
  parseExtensions,
  rcptCommand,
  sizeLimit,
  validateTransaction,
} from './commands.ts';
import { SmtpClientError } from './errors.ts';
import type { OutboundTransaction } from './types.ts';

function tx(overrides: Partial<OutboundTransaction> = {}): OutboundTransaction {
  return {
    mailFrom: 'a@example.org',
    recipients: [{ address: 'b@example.net' }],
    body: Buffer.from('Subject: x\r\n\r\nhi\r\n'),
    size: 20,
    eightBit: false,
    smtputf8: false,
    ...overrides,
  };
}

const ALL = new Map([
  ['SIZE', '1000'],
  ['8BITMIME', ''],
  ['SMTPUTF8', ''],
  ['DSN', ''],
  ['PIPELINING', ''],
]);

describe('parseExtensions', () => {
  it('reads keywords and parameters, skipping the greeting line and junk', () => {
    const ext = parseExtensions({
      code: 250,
      text: 'mx.test Hello\nPIPELINING\nsize 35882577\nAUTH=LOGIN\nAUTH PLAIN LOGIN\n  8bitmime  \n-bad\n\nX_Y z',
    });
    assert.deepEqual(
      [...ext],
      [
        ['PIPELINING', ''],
        ['SIZE', '35882577'],
        ['AUTH', 'LOGIN'],
        ['8BITMIME', ''],
      ],
    );
  });

  it('caps the number of keywords', () => {
    const lines = Array.from({ length: 150 }, (_, i) => `X-EXT${i}`);
    assert.equal(parseExtensions({ code: 250, text: ['hi', ...lines].join('\n') }).size, 100);
  });

  it('reads the SIZE limit', () => {
    assert.equal(sizeLimit(new Map([['SIZE', '1000']])), 1000);
    assert.equal(sizeLimit(new Map([['SIZE', '0']])), undefined);
    assert.equal(sizeLimit(new Map([['SIZE', '']])), undefined);
    assert.equal(sizeLimit(new Map([['SIZE', '12abc']])), undefined);
    assert.equal(sizeLimit(new Map()), undefined);
  });
});

describe('localRefusal', () => {
  it('refuses what the server cannot take, with the documented codes', () => {
    assert.deepEqual(localRefusal(tx({ size: 1001 }), ALL)?.enhanced, '5.3.4');
    assert.equal(localRefusal(tx({ size: 1001 }), ALL)?.code, 552);
    assert.equal(localRefusal(tx({ size: 1000 }), ALL), undefined);
    const no8 = new Map([['SMTPUTF8', '']]);
    assert.equal(localRefusal(tx({ eightBit: true }), no8)?.code, 554);
    assert.equal(localRefusal(tx({ eightBit: true }), no8)?.enhanced, '5.6.3');
    const noUtf8 = new Map([['8BITMIME', '']]);
    assert.equal(localRefusal(tx({ smtputf8: true }), noUtf8)?.code, 553);
    assert.equal(localRefusal(tx({ smtputf8: true }), noUtf8)?.enhanced, '5.6.7');
    assert.equal(localRefusal(tx({ recipients: [{ address: 'jörg@example.de' }] }), noUtf8)?.code, 553);
    assert.equal(localRefusal(tx({ eightBit: true, smtputf8: true }), ALL), undefined);
  });
});

describe('mailCommand / rcptCommand', () => {
  it('adds only parameters the server offered', () => {
    const full = tx({ eightBit: true, smtputf8: true, ret: 'HDRS', envid: 'id+1=x y' });
    assert.equal(
      mailCommand(full, ALL),
      'MAIL FROM:<a@example.org> SIZE=20 BODY=8BITMIME SMTPUTF8 RET=HDRS ENVID=id+2B1+3Dx+20y',
    );
    assert.equal(decodeXtext('id+2B1+3Dx+20y'), 'id+1=x y');
    const noDsn = new Map([...ALL].filter(([k]) => k !== 'DSN' && k !== 'SIZE'));
    assert.equal(mailCommand(full, noDsn), 'MAIL FROM:<a@example.org> BODY=8BITMIME SMTPUTF8');
    assert.equal(mailCommand(tx({ mailFrom: '' }), new Map()), 'MAIL FROM:<>');
  });

  it('writes NOTIFY and ORCPT only with DSN', () => {
    const r = {
      address: 'b@example.net',
      notify: ['SUCCESS', 'DELAY'] as const,
      orcpt: { addrType: 'rfc822', address: 'b+x@example.net' },
    };
    assert.equal(
      rcptCommand(r, ALL),
      'RCPT TO:<b@example.net> NOTIFY=SUCCESS,DELAY ORCPT=rfc822;b+2Bx@example.net',
    );
    assert.equal(
      rcptCommand({ address: 'b@example.net', notify: 'NEVER' }, ALL),
      'RCPT TO:<b@example.net> NOTIFY=NEVER',
    );
    assert.equal(rcptCommand(r, new Map()), 'RCPT TO:<b@example.net>');
  });

  it('encodes non-ASCII ORCPT addresses as RFC 6533 utf-8-addr-xtext', () => {
    assert.equal(orcptValue('rfc822', 'jörg+1@bücher.de'), 'utf-8;j\\x{F6}rg\\x{2B}1@b\\x{FC}cher.de');
    assert.equal(orcptValue('UTF-8', 'a=b@c'), 'utf-8;a\\x{3D}b@c');
    const value = orcptValue('rfc822', '日本@例え.jp');
    assert.match(value, /^[!-~]+$/, 'all of it is printable ASCII');
    assert.equal(decodeXtext(value), value, 'and it is valid xtext as is');
  });
});

describe('validateTransaction', () => {
  const bad: [string, Partial<OutboundTransaction>][] = [
    ['CR LF in the sender', { mailFrom: 'a@b\r\nRCPT TO:<x@y>' }],
    ['NUL in the sender', { mailFrom: 'a\0@b' }],
    ['LF in a recipient', { recipients: [{ address: 'b@c\nDATA' }] }],
    ['empty recipient', { recipients: [{ address: '' }] }],
    ['no recipients', { recipients: [] }],
    [
      'control char in ORCPT',
      { recipients: [{ address: 'b@c', orcpt: { addrType: 'rfc822', address: 'x\r\n' } }] },
    ],
    ['bad ORCPT type', { recipients: [{ address: 'b@c', orcpt: { addrType: 'rfc 822', address: 'x@y' } }] }],
    ['empty NOTIFY', { recipients: [{ address: 'b@c', notify: [] }] }],
    ['unknown NOTIFY', { recipients: [{ address: 'b@c', notify: ['SUCCESS\r\nDATA' as 'SUCCESS'] }] }],
    ['ENVID too long', { envid: 'x'.repeat(101) }],
    ['negative size', { size: -1 }],
  ];
  for (const [name, overrides] of bad) {
    it(`refuses ${name}`, () => {
      assert.throws(
        () => validateTransaction(tx(overrides)),
        (error: unknown) =>
          error instanceof SmtpClientError && error.code === 'PROTOCOL' && error.temporary === false,
      );
    });
  }

  it('accepts a normal transaction, the null sender and UTF-8 addresses', () => {
    validateTransaction(tx());
    validateTransaction(tx({ mailFrom: '' }));
    validateTransaction(tx({ recipients: [{ address: 'jörg@bücher.de', notify: 'NEVER' }] }));
  });
});
