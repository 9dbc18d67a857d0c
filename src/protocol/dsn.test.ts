import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { buildDsn, type DsnInput, type DsnRecipient } from './dsn.ts';

// ---- a small independent reader of what buildDsn wrote ---------------------------

/** Every line ends in CRLF, is at most 998 octets, and there is no NUL, bare CR or bare LF. */
function assertWire(body: Buffer): void {
  assert.ok(
    body.length >= 2 && body[body.length - 2] === 0x0d && body[body.length - 1] === 0x0a,
    'ends in CRLF',
  );
  let lineStart = 0;
  for (let i = 0; i < body.length; i++) {
    const b = body[i];
    assert.notEqual(b, 0, `NUL at ${i}`);
    if (b === 0x0a) assert.equal(body[i - 1], 0x0d, `bare LF at ${i}`);
    if (b === 0x0d) {
      assert.equal(body[i + 1], 0x0a, `bare CR at ${i}`);
      assert.ok(i - lineStart <= 998, `line of ${i - lineStart} octets at ${lineStart}`);
      lineStart = i + 2;
    }
  }
}

interface Part {
  headers: Map<string, string>;
  content: Buffer;
}

function splitEntity(entity: Buffer): Part {
  const end = entity.indexOf('\r\n\r\n');
  assert.ok(end >= 0, 'header section ends with an empty line');
  const head = entity
    .subarray(0, end)
    .toString('utf8')
    .replace(/\r\n[ \t]/g, ' ');
  const headers = new Map<string, string>();
  for (const line of head.split('\r\n')) {
    const colon = line.indexOf(':');
    assert.ok(colon > 0, `header line: ${line}`);
    headers.set(line.slice(0, colon).toLowerCase(), line.slice(colon + 1).trim());
  }
  return { headers, content: entity.subarray(end + 4) };
}

function parseReport(body: Buffer): { top: Part; parts: Part[]; boundary: string } {
  assertWire(body);
  const top = splitEntity(body);
  const type = top.headers.get('content-type') ?? '';
  assert.match(type, /^multipart\/report; report-type=delivery-status;/);
  const boundary = /boundary="([^"]+)"/.exec(type)?.[1];
  assert.ok(boundary, 'boundary parameter');
  const delimiter = `\r\n--${boundary}`;
  const chunks: Buffer[] = [];
  let at = top.content.indexOf(delimiter);
  assert.ok(at >= 0, 'first delimiter');
  for (;;) {
    const start = at + delimiter.length;
    if (top.content.subarray(start, start + 2).toString() === '--') break;
    assert.equal(top.content.subarray(start, start + 2).toString(), '\r\n');
    const next = top.content.indexOf(delimiter, start);
    assert.ok(next > 0, 'closing delimiter');
    chunks.push(top.content.subarray(start + 2, next));
    at = next;
  }
  return { top, parts: chunks.map(splitEntity), boundary };
}

/** The delivery-status content as blocks of (lower-case name -> value) fields, folding undone. */
function statusBlocks(content: Buffer): Map<string, string>[] {
  const text = content.toString('utf8').replace(/\r\n[ \t]/g, ' ');
  return text
    .split('\r\n\r\n')
    .filter((block) => block.trim() !== '')
    .map((block) => {
      const fields = new Map<string, string>();
      for (const line of block.split('\r\n').filter((l) => l !== '')) {
        const colon = line.indexOf(':');
        assert.ok(colon > 0, `field line: ${line}`);
        const name = line.slice(0, colon).toLowerCase();
        assert.ok(!fields.has(name), `field ${name} twice in one block`);
        fields.set(name, line.slice(colon + 1).trim());
      }
      return fields;
    });
}

// ---- fixtures -----------------------------------------------------------------

const ORIGINAL = Buffer.from(
  'Received: from client.example (client.example [192.0.2.7])\r\n\tby mx.test (mxpress) with ESMTP id 01J0000000000000000000000A;\r\n\tThu, 1 Jan 2026 00:00:00 +0000\r\n' +
    'From: Alice <alice@example.com>\r\nTo: bob@example.org\r\nSubject: Quarterly numbers\r\n\r\nHello Bob,\r\nthe numbers.\r\n',
);

const BOB: DsnRecipient = {
  finalRecipient: 'bob@example.org',
  action: 'failed',
  status: '5.1.1',
  remoteMta: 'mx.example.org',
  diagnostic: {
    code: 550,
    enhanced: '5.1.1',
    text: 'The email account that you tried to reach does not exist. Please check the\naddress for typing mistakes.',
  },
  lastAttemptAt: Date.UTC(2026, 0, 1, 0, 1),
  explanation: 'The receiving server says this mailbox does not exist.',
};

const CAROL: DsnRecipient = {
  finalRecipient: 'carol@example.net',
  originalRecipient: { addrType: 'rfc822', address: 'Carol@Example.net' },
  action: 'delayed',
  status: '4.4.1',
  remoteMta: 'dns; mx2.example.net',
  lastAttemptAt: Date.UTC(2026, 0, 1, 0, 2),
  willRetryUntil: Date.UTC(2026, 0, 6),
  explanation: 'Nobody answered at the receiving server.',
};

function input(over: Partial<DsnInput> = {}): DsnInput {
  return {
    reportingMta: 'mx.test',
    messageId: '01J0000000000000000000000A',
    arrivalDate: Date.UTC(2026, 0, 1),
    envid: 'ENV-42',
    originalFrom: 'alice@example.com',
    recipients: [BOB, CAROL],
    ret: 'FULL',
    original: ORIGINAL,
    smtputf8: false,
    now: Date.UTC(2026, 0, 1, 0, 3),
    boundarySeed: 'seed1',
    ...over,
  };
}

function golden(name: string, body: Buffer): void {
  const path = new URL(`./testdata/${name}`, import.meta.url);
  if (process.env.UPDATE_GOLDEN === '1') writeFileSync(path, body);
  assert.equal(body.toString('utf8'), readFileSync(path).toString('utf8'));
}

// ---- tests ---------------------------------------------------------------------

describe('buildDsn', () => {
  it('writes a failed + delayed report with the full original (golden)', () => {
    const { body, subject } = buildDsn(input());
    golden('dsn-failed-full.eml', body);
    assert.equal(subject, 'Undelivered Mail Returned to Sender');
    const { top, parts } = parseReport(body);
    assert.equal(top.headers.get('from'), 'Mail Delivery System <MAILER-DAEMON@mx.test>');
    assert.equal(top.headers.get('to'), '<alice@example.com>');
    assert.equal(top.headers.get('subject'), subject);
    assert.equal(top.headers.get('auto-submitted'), 'auto-replied');
    assert.equal(top.headers.get('mime-version'), '1.0');
    assert.equal(top.headers.get('date'), 'Thu, 1 Jan 2026 00:03:00 +0000');
    assert.match(top.headers.get('message-id') ?? '', /^<[^<>\s]+@mx\.test>$/);
    assert.equal(parts.length, 3);
    const [text, status, original] = parts as [Part, Part, Part];
    assert.equal(text.headers.get('content-type'), 'text/plain; charset=us-ascii');
    const prose = text.content.toString('utf8').replace(/\r\n\s*/g, ' ');
    assert.match(prose, /<bob@example\.org>/);
    assert.match(prose, /550 5\.1\.1 The email account that you tried to reach does not exist\./);
    assert.match(prose, /The receiving server says this mailbox does not exist\./);
    assert.match(prose, /Retrying until: Tue, 6 Jan 2026 00:00:00 \+0000/);
    assert.match(prose, /Quarterly numbers/);
    assert.equal(status.headers.get('content-type'), 'message/delivery-status');
    const blocks = statusBlocks(status.content);
    assert.equal(blocks.length, 3);
    const [perMessage, bob, carol] = blocks as [
      Map<string, string>,
      Map<string, string>,
      Map<string, string>,
    ];
    assert.equal(perMessage.get('reporting-mta'), 'dns; mx.test');
    assert.equal(perMessage.get('original-envelope-id'), 'ENV-42');
    assert.equal(perMessage.get('arrival-date'), 'Thu, 1 Jan 2026 00:00:00 +0000');
    assert.equal(bob.get('final-recipient'), 'rfc822; bob@example.org');
    assert.equal(bob.get('action'), 'failed');
    assert.equal(bob.get('status'), '5.1.1');
    assert.equal(bob.get('remote-mta'), 'dns; mx.example.org');
    assert.equal(
      bob.get('diagnostic-code'),
      'smtp; 550 5.1.1 The email account that you tried to reach does not exist. Please check the address for typing mistakes.',
    );
    assert.equal(bob.get('last-attempt-date'), 'Thu, 1 Jan 2026 00:01:00 +0000');
    assert.equal(bob.has('original-recipient'), false);
    assert.equal(bob.has('will-retry-until'), false);
    assert.equal(carol.get('original-recipient'), 'rfc822; Carol@Example.net');
    assert.equal(carol.get('action'), 'delayed');
    assert.equal(carol.get('remote-mta'), 'dns; mx2.example.net');
    assert.equal(carol.get('will-retry-until'), 'Tue, 6 Jan 2026 00:00:00 +0000');
    assert.equal(original.headers.get('content-type'), 'message/rfc822');
    assert.deepEqual(original.content, ORIGINAL);
  });

  it('uses the RFC 6533 types and utf-8 addresses for SMTPUTF8 mail, headers only (golden)', () => {
    const utf8Original = Buffer.from(
      'From: Jörg <jörg@bücher.example>\r\nSubject: Grüße\r\n\r\nHallo\r\n',
      'utf8',
    );
    const { body } = buildDsn(
      input({
        originalFrom: 'jörg@bücher.example',
        smtputf8: true,
        ret: 'HDRS',
        original: utf8Original,
        recipients: [
          {
            ...BOB,
            finalRecipient: 'δοκιμή+tag@παράδειγμα.example',
            originalRecipient: { addrType: 'utf-8', address: 'δοκιμή+tag@παράδειγμα.example' },
            diagnostic: { code: 550, enhanced: '5.1.1', text: 'Postfach unbekannt: δοκιμή' },
          },
        ],
      }),
    );
    golden('dsn-utf8-hdrs.eml', body);
    const { top, parts } = parseReport(body);
    assert.equal(top.headers.get('to'), '<jörg@bücher.example>');
    const [text, status, original] = parts as [Part, Part, Part];
    assert.equal(text.headers.get('content-type'), 'text/plain; charset=utf-8');
    assert.equal(text.headers.get('content-transfer-encoding'), '8bit');
    assert.equal(status.headers.get('content-type'), 'message/global-delivery-status');
    const [, rcpt] = statusBlocks(status.content) as [Map<string, string>, Map<string, string>];
    assert.equal(rcpt.get('final-recipient'), 'utf-8; δοκιμή\\x{2B}tag@παράδειγμα.example');
    assert.equal(rcpt.get('original-recipient'), 'utf-8; δοκιμή\\x{2B}tag@παράδειγμα.example');
    assert.equal(rcpt.get('diagnostic-code'), 'smtp; 550 5.1.1 Postfach unbekannt: δοκιμή');
    assert.equal(original.headers.get('content-type'), 'message/global-headers');
    assert.equal(original.content.toString('utf8'), 'From: Jörg <jörg@bücher.example>\r\nSubject: Grüße\r\n');
  });

  it('switches to the global report type when an address is non-ASCII even without SMTPUTF8', () => {
    const { body } = buildDsn(input({ recipients: [{ ...BOB, finalRecipient: 'ünïcode@example.org' }] }));
    const { parts } = parseReport(body);
    assert.equal(parts[1]?.headers.get('content-type'), 'message/global-delivery-status');
    assert.equal(statusBlocks(parts[1]!.content)[1]?.get('final-recipient'), 'utf-8; ünïcode@example.org');
  });

  it('escapes a utf-8 ORCPT in the ASCII report and keeps other address types', () => {
    const { body } = buildDsn(
      input({
        recipients: [
          { ...BOB, originalRecipient: { addrType: 'utf-8', address: 'bob+x=y@example.org' } },
          { ...BOB, originalRecipient: { addrType: 'x400', address: 'c=us;a=att' } },
        ],
      }),
    );
    const blocks = statusBlocks(parseReport(body).parts[1]!.content);
    assert.equal(blocks[1]?.get('original-recipient'), 'utf-8; bob\\x{2B}x\\x{3D}y@example.org');
    assert.equal(blocks[2]?.get('original-recipient'), 'x400; c=us;a=att');
  });

  it('cannot be made to emit extra fields, control characters or long lines by a hostile reply', () => {
    const hostile: DsnRecipient = {
      ...BOB,
      remoteMta: 'mx.evil\r\nAction: delivered',
      diagnostic: {
        code: 550,
        enhanced: '5.7.1',
        text: `no\r\nAction: delivered\x00\x1b[31m\u0085 caf\u00e9 ${'x'.repeat(5000)} ${'y '.repeat(3000)}end`,
      },
      explanation: 'line one\r\nStatus: 2.0.0',
    };
    const { body } = buildDsn(input({ recipients: [hostile], envid: 'E\r\nX-Injected: 1' }));
    const { parts } = parseReport(body);
    const [perMessage, rcpt] = statusBlocks(parts[1]!.content) as [Map<string, string>, Map<string, string>];
    assert.equal(perMessage.has('x-injected'), false);
    assert.equal(perMessage.get('original-envelope-id'), 'E X-Injected: 1');
    assert.equal(rcpt.get('action'), 'failed');
    assert.equal(rcpt.get('status'), '5.1.1');
    assert.equal(rcpt.get('remote-mta'), 'dns; mx.evilAction:delivered');
    const diagnostic = rcpt.get('diagnostic-code') ?? '';
    assert.match(diagnostic, /^smtp; 550 5\.7\.1 no Action: delivered\[31m caf\? x+/);
    assert.doesNotMatch(diagnostic, /[\x00-\x1f\x7f-\uffff]/);
    assert.ok(diagnostic.length < 4100, 'reply text is capped');
    // The human-readable part keeps the UTF-8 it was given, minus controls.
    const prose = parts[0]!.content.toString('utf8');
    assert.match(prose, /café/);
    assert.doesNotMatch(prose, /[\x00-\x09\x0b\x0c\x0e-\x1f\x7f\u0085]/);
  });

  it('attaches only the header section when the original is larger than the limit, and says so', () => {
    const big = Buffer.concat([ORIGINAL, Buffer.from('z'.repeat(900).concat('\r\n').repeat(40))]);
    const { body } = buildDsn(input({ original: big, maxOriginalBytes: 4096 }));
    const { parts } = parseReport(body);
    assert.equal(parts[2]?.headers.get('content-type'), 'text/rfc822-headers');
    assert.match(parts[2]!.content.toString(), /^Received: .*Subject: Quarterly numbers\r\n$/s);
    assert.doesNotMatch(parts[2]!.content.toString(), /Hello Bob/);
    assert.match(
      parts[0]!.content.toString().replace(/\r\n/g, ' '),
      /larger than 4096 bytes, so only its header section/,
    );
  });

  it('attaches only the header section when the original is not clean MIME (bare LF, long line)', () => {
    for (const tail of ['bare\nLF\r\n', `${'w'.repeat(1200)}\r\n`]) {
      const { body } = buildDsn(input({ original: Buffer.concat([ORIGINAL, Buffer.from(tail)]) }));
      const { parts } = parseReport(body);
      assert.equal(parts[2]?.headers.get('content-type'), 'text/rfc822-headers');
      assert.match(parts[2]!.content.toString(), /^Received: .*Subject: Quarterly numbers\r\n$/s);
      assert.match(parts[0]!.content.toString(), /could not be attached unchanged/);
    }
  });

  it('folds over-long header lines of the original in a headers-only attachment', () => {
    const original = Buffer.from(`X-Long: ${'h'.repeat(3000)}\r\nSubject: s\r\n\r\nbody\r\n`);
    const { body } = buildDsn(input({ original, ret: 'HDRS' }));
    const attached = parseReport(body).parts[2]!.content.toString();
    assert.equal(attached.replace(/\r\n /g, ''), `X-Long: ${'h'.repeat(3000)}\r\nSubject: s\r\n`);
  });

  it('picks another boundary when the original contains the seeded one, and keeps the original exact', () => {
    const first = parseReport(buildDsn(input()).body).boundary;
    const tricky = Buffer.concat([ORIGINAL, Buffer.from(`--${first}\r\n--${first}--\r\n`)]);
    const { body } = buildDsn(input({ original: tricky }));
    const { boundary, parts } = parseReport(body);
    assert.notEqual(boundary, first);
    assert.deepEqual(parts[2]?.content, tricky);
  });

  it('closes the failures with advice that fits them', () => {
    const closing = (recipients: DsnRecipient[]): string => {
      const { parts } = parseReport(buildDsn(input({ recipients })).body);
      const prose = parts[0]!.content.toString('utf8').replace(/\r\n(?!\r\n)/g, ' ');
      return /What you can do: [^.]*\./.exec(prose)?.[0] ?? '';
    };
    const { explanation: _, ...bare } = BOB;
    const policy: DsnRecipient = { ...bare, finalRecipient: 'dan@example.org', status: '5.7.1' };
    assert.equal(closing([BOB]), 'What you can do: follow the advice given with each recipient above.');
    assert.equal(
      closing([bare, { ...policy, explanation: 'Blocked as spam.' }]),
      'What you can do: check the addresses above for typing mistakes.',
      'a refused address without advice of its own',
    );
    assert.equal(
      closing([policy]),
      "What you can do: read the server's answer quoted above, which names the problem.",
      'no address problem: no talk of typing mistakes',
    );
  });

  it('names the report by its most serious action', () => {
    const delivered: DsnRecipient = {
      finalRecipient: 'dan@example.org',
      action: 'delivered',
      status: '2.0.0',
    };
    assert.equal(buildDsn(input({ recipients: [CAROL] })).subject, 'Delayed Mail (still being retried)');
    assert.equal(buildDsn(input({ recipients: [delivered] })).subject, 'Successful Mail Delivery Report');
    assert.equal(
      buildDsn(input({ recipients: [delivered, CAROL, BOB] })).subject,
      'Undelivered Mail Returned to Sender',
    );
  });

  it('repairs a malformed status, drops a malformed reply code and writes Will-Retry-Until only for delayed', () => {
    const { body } = buildDsn(
      input({
        recipients: [
          { ...BOB, status: '5.1.1\r\nX: y', diagnostic: { code: 99, text: 'odd' }, willRetryUntil: 1 },
          { ...CAROL, status: 'soon' },
        ],
      }),
    );
    const [, failed, delayed] = statusBlocks(parseReport(body).parts[1]!.content);
    assert.equal(failed?.get('status'), '5.0.0');
    assert.equal(failed?.has('diagnostic-code'), false);
    assert.equal(failed?.has('will-retry-until'), false);
    assert.equal(delayed?.get('status'), '4.0.0');
  });

  it('uses a random boundary without a seed', () => {
    const a = parseReport(buildDsn(input({ boundarySeed: undefined })).body).boundary;
    const b = parseReport(buildDsn(input({ boundarySeed: undefined })).body).boundary;
    assert.notEqual(a, b);
  });

  it('refuses impossible input', () => {
    assert.throws(() => buildDsn(input({ recipients: [] })), TypeError);
    assert.throws(() => buildDsn(input({ originalFrom: '' })), TypeError);
  });

  it('keeps its wire invariants for random reply texts and envids (seeded)', () => {
    let state = 0x9e3779b9;
    const next = (): number => {
      state = (Math.imul(state ^ (state >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0;
      return state;
    };
    const randomText = (length: number): string => {
      let out = '';
      for (let i = 0; i < length; i++) {
        const r = next() % 10;
        out +=
          r < 6
            ? String.fromCharCode(0x20 + (next() % 95))
            : r < 8
              ? String.fromCharCode(next() % 0x20)
              : String.fromCharCode(next() % 0xffff);
      }
      return out;
    };
    for (let i = 0; i < 150; i++) {
      const recipient: DsnRecipient = {
        ...BOB,
        diagnostic: { code: 400 + (next() % 200), enhanced: randomText(6), text: randomText(next() % 3000) },
        explanation: randomText(next() % 500),
        remoteMta: randomText(next() % 80),
      };
      const { body } = buildDsn(
        input({ recipients: [recipient], envid: randomText(next() % 120), smtputf8: next() % 2 === 0 }),
      );
      const { parts } = parseReport(body);
      assert.equal(parts.length, 3);
      const blocks = statusBlocks(parts[1]!.content);
      assert.equal(blocks.length, 2);
      assert.equal(blocks[1]?.get('action'), 'failed');
    }
  });
});
