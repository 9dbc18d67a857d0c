/**
 * `POST /api/v1/messages` over real HTTP against a real spool and acceptor: the
 * JSON form (MIME built, envelope from to/cc/bcc, DSN options), the raw
 * message/rfc822 form (CRLF canonicalization, 8-bit detection), header-injection
 * and other hostile input (each refused with the field named and nothing stored),
 * size, recipient and disk limits.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { request, startTestApi, type TestApi } from '../api-testkit.ts';

let api: TestApi;
before(async () => {
  api = await startTestApi({ limits: { maxMessageSize: 64 * 1024, maxRecipients: 5 } });
});
after(async () => {
  await api.close();
});

const url = () => `${api.base}/api/v1/messages`;

function valid(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    from: 'Ann <ann@example.test>',
    to: ['bob@example.test'],
    subject: 'Hi',
    text: 'Hello\n',
    ...extra,
  };
}

async function storedText(id: string): Promise<string> {
  return Buffer.from(await api.spool.readBody(id)).toString('utf8');
}

/** Posts `body` and expects a 400 whose detail starts with `field:`. Nothing may be stored. */
async function refused(body: unknown, field: string, status = 400): Promise<string> {
  const before = (await api.spool.stats()).messages;
  const reply = await request(url(), { json: body });
  assert.equal(reply.status, status, JSON.stringify(reply.body));
  assert.equal(reply.headers.get('content-type'), 'application/problem+json; charset=utf-8');
  const detail = String(reply.body.detail);
  assert.ok(detail.startsWith(`${field}:`), `detail "${detail}" should name ${field}`);
  assert.equal((await api.spool.stats()).messages, before, 'nothing stored');
  return detail;
}

describe('JSON injection', () => {
  it('stores a built message and answers 202 with the id and recipients', async () => {
    const events: unknown[] = [];
    const unsubscribe = api.bus.subscribe((e) => events.push(e));
    const reply = await request(url(), {
      json: valid({
        to: ['bob@example.test', 'Carol <carol@Example.TEST>'],
        cc: ['bob@example.test', 'dave@example.test'],
        bcc: ['secret@example.test'],
        subject: 'Grüße',
        html: '<p>Hello</p>',
        headers: { 'X-Campaign': 'spring' },
        dsn: { notify: ['FAILURE', 'DELAY'], ret: 'HDRS', envid: 'env-1' },
      }),
    });
    unsubscribe();
    assert.equal(reply.status, 202, JSON.stringify(reply.body));
    const id = String(reply.body.id);
    assert.deepEqual(reply.body.recipients, [
      'bob@example.test',
      'carol@example.test',
      'dave@example.test',
      'secret@example.test',
    ]);
    assert.equal(reply.headers.get('location'), `/api/v1/messages/${id}`);
    const stored = await api.spool.getMessage(id);
    assert.equal(stored?.envelope.mailFrom, 'ann@example.test');
    assert.equal(stored?.envelope.ret, 'HDRS');
    assert.equal(stored?.envelope.envid, 'env-1');
    assert.equal(stored?.envelope.bodyType, '7BIT');
    assert.equal(stored?.envelope.smtputf8, false);
    assert.deepEqual(stored?.recipients[0]?.notify, ['FAILURE', 'DELAY']);
    assert.equal(stored?.origin.kind, 'http');
    assert.equal(stored?.origin.protocol, 'HTTP');
    assert.equal(stored?.origin.listener, 'api');
    assert.equal(stored?.origin.clientIp, '127.0.0.1');
    const text = await storedText(id);
    assert.match(text, /^Received: by mx\.api\.test \(mxpress\) with HTTP id /);
    assert.match(text, new RegExp(`\\r\\nMessage-ID: <${id}@mx\\.api\\.test>\\r\\n`));
    assert.match(text, /\r\nDate: \w{3}, /);
    assert.match(text, /\r\nFrom: Ann <ann@example\.test>\r\n/);
    assert.match(text, /\r\nTo: bob@example\.test, Carol <carol@example\.test>\r\n/);
    assert.match(text, /\r\nSubject: =\?UTF-8\?B\?R3LDvMOfZQ==\?=\r\n/);
    assert.match(text, /\r\nX-Campaign: spring\r\n/);
    assert.match(text, /multipart\/alternative/);
    assert.ok(!/secret@example\.test/.test(text), 'Bcc never reaches the header');
    assert.equal(stored?.headers.subject, '=?UTF-8?B?R3LDvMOfZQ==?=');
    assert.equal(events.length, 1);
    assert.ok((events[0] as { seq: number }).seq > 0, 'the published event carries its seq');
  });

  it('accepts UTF-8 addresses as SMTPUTF8 mail', async () => {
    const reply = await request(url(), { json: valid({ to: ['用户@例子.test'] }) });
    assert.equal(reply.status, 202, JSON.stringify(reply.body));
    const stored = await api.spool.getMessage(String(reply.body.id));
    assert.equal(stored?.envelope.smtputf8, true);
    assert.equal(stored?.envelope.bodyType, '8BITMIME');
    assert.match(await storedText(String(reply.body.id)), /\r\nTo: 用户@例子\.test\r\n/);
  });

  it('refuses CR, LF and NUL in every header value and address (header injection)', async () => {
    await refused(valid({ subject: 'Hi\r\nBcc: victim@example.test' }), 'subject');
    await refused(valid({ subject: 'Hi\nX-Evil: 1' }), 'subject');
    await refused(valid({ subject: 'Hi\0' }), 'subject');
    await refused(valid({ headers: { 'X-Tag': 'a\r\nBcc: victim@example.test' } }), 'headers.X-Tag');
    await refused(valid({ headers: { 'X-Tag': 'a\nb' } }), 'headers.X-Tag');
    await refused(valid({ from: 'Ann\r\nBcc: victim@example.test <ann@example.test>' }), 'from');
    await refused(valid({ to: ['bob@example.test', 'Bob\n <x@example.test>'] }), 'to[1]');
    await refused(valid({ cc: ['x@example.test\r\nBcc: y@example.test'] }), 'cc[0]');
    await refused(valid({ bcc: ['x@exam\0ple.test'] }), 'bcc[0]');
    const attachment = {
      filename: 'a.txt\r\nContent-Type: text/html',
      contentType: 'text/plain',
      content: 'aGk=',
    };
    await refused(valid({ attachments: [attachment] }), 'attachments[0].filename');
    await refused(
      valid({ attachments: [{ filename: 'a', contentType: 'text/plain\r\nX: y', content: 'aGk=' }] }),
      'attachments[0].contentType',
    );
    await refused(valid({ text: 'nul \0 here' }), 'text');
  });

  it('refuses structural header names, bad names and malformed fields', async () => {
    for (const name of ['Content-Type', 'bcc', 'From', 'MIME-Version', 'Received', 'Date']) {
      await refused(valid({ headers: { [name]: 'x' } }), `headers.${name}`);
    }
    await refused(valid({ headers: { 'X Bad': 'x' } }), 'headers.X Bad');
    await refused(valid({ headers: { 'Message-ID': 'no-brackets' } }), 'headers.Message-ID');
    await refused(valid({ nonsense: 1 }), 'nonsense');
    await refused({ from: 'ann@example.test', to: ['b@example.test'] }, 'subject');
    await refused(valid({ to: ['not-an-address'] }), 'to[0]');
    await refused(valid({ to: [], cc: [] }), 'to');
    await refused(
      valid({ to: ['a@x.test', 'b@x.test', 'c@x.test', 'd@x.test', 'e@x.test', 'f@x.test'] }),
      'to',
    );
    await refused(
      valid({ attachments: [{ filename: 'a', contentType: 'text/plain', content: 'not base64!' }] }),
      'attachments[0].content',
    );
    await refused(valid({ dsn: { notify: ['NEVER', 'FAILURE'] } }), 'dsn.notify');
    await refused(valid({ dsn: { ret: 'ALL' } }), 'dsn.ret');
    await refused(
      valid({ attachments: [{ filename: 'a', contentType: 'text/plain' }] }),
      'attachments[0].content',
    );
    const reply = await request(url(), {
      body: '{"from": ',
      headers: { 'content-type': 'application/json' },
    });
    assert.equal(reply.status, 400);
    assert.match(String(reply.body.detail), /^body: /);
  });

  it('413 when the built message exceeds the size limit', async () => {
    await refused(valid({ text: 'x'.repeat(70 * 1024) }), 'body', 413);
  });
});

describe('raw injection (message/rfc822)', () => {
  const raw = (query: string, body: string | Buffer, type = 'message/rfc822') =>
    request(`${url()}?${query}`, { body, headers: { 'content-type': type } });

  it('canonicalizes bare LF, detects 8-bit content and reads to= lists', async () => {
    const message = 'From: a@example.test\nSubject: raw\n\nline one\nlinë two';
    const reply = await raw(
      'from=a@example.test&to=b@example.test,c@example.test&to=d@example.test',
      message,
    );
    assert.equal(reply.status, 202, JSON.stringify(reply.body));
    assert.deepEqual(reply.body.recipients, ['b@example.test', 'c@example.test', 'd@example.test']);
    const id = String(reply.body.id);
    const text = await storedText(id);
    assert.ok(
      text.endsWith('\r\nFrom: a@example.test\r\nSubject: raw\r\n\r\nline one\r\nlinë two\r\n'),
      text,
    );
    assert.ok(!/[^\r]\n/.test(text), 'CRLF only');
    const stored = await api.spool.getMessage(id);
    assert.equal(stored?.envelope.bodyType, '8BITMIME');
    assert.equal(stored?.headers.subject, 'raw');
  });

  it('accepts the null sender and refuses bad envelopes, NUL and oversize bodies', async () => {
    const ok = await raw('from=%3C%3E&to=b@example.test', 'Subject: bounce\r\n\r\nx\r\n');
    assert.equal(ok.status, 202);
    assert.equal((await api.spool.getMessage(String(ok.body.id)))?.envelope.mailFrom, '');
    for (const [query, field] of [
      ['to=b@example.test', 'from'],
      ['from=a@example.test', 'to'],
      ['from=bad&to=b@example.test', 'from'],
      ['from=a@example.test&to=Bob%20%3Cb@example.test%3E', 'to[0]'],
      ['from=a@example.test&to=b@example.test%0D%0ABcc:x@y.test', 'to[0]'],
      ['from=a@example.test&to=b@example.test&extra=1', 'extra'],
    ] as const) {
      const reply = await raw(query, 'Subject: x\r\n\r\nx\r\n');
      assert.equal(reply.status, 400, query);
      assert.ok(String(reply.body.detail).startsWith(`${field}:`), `${query}: ${reply.body.detail}`);
    }
    const nul = await raw('from=a@example.test&to=b@example.test', 'Subject: x\r\n\r\na\0b\r\n');
    assert.equal(nul.status, 400);
    assert.match(String(nul.body.detail), /^body: .*NUL/);
    const big = await raw('from=a@example.test&to=b@example.test', Buffer.alloc(65 * 1024, 'a'));
    assert.equal(big.status, 413);
    // Bare LFs become CRLF: a message just under the limit can grow past it.
    const grows = await raw('from=a@example.test&to=b@example.test', 'a\n'.repeat(30 * 1024 + 100));
    assert.equal(grows.status, 413);
    assert.match(String(grows.body.detail), /^body: /);
  });

  it('415 for other media types; query parameters only with message/rfc822', async () => {
    const text = await raw('from=a@example.test&to=b@example.test', 'hi', 'text/plain');
    assert.equal(text.status, 415);
    assert.match(String(text.body.detail), /^content-type: /);
    const mixed = await request(`${url()}?to=x@example.test`, { json: valid() });
    assert.equal(mixed.status, 400);
    assert.match(String(mixed.body.detail), /^to: unknown parameter/);
  });
});

describe('recipient policy', () => {
  it('drops recipients the SMTP policy refuses (suppression) and reports them; 422 when none is left', async () => {
    const refusal = { code: 550, enhanced: '5.1.1', text: 'Recipient suppressed' };
    const strict = await startTestApi({
      extra: { refuseRecipient: (address) => (address.startsWith('blocked') ? refusal : undefined) },
    });
    try {
      const target = `${strict.base}/api/v1/messages`;
      const partial = await request(target, {
        json: valid({ to: ['blocked@example.test', 'ok@example.test'] }),
      });
      assert.equal(partial.status, 202, JSON.stringify(partial.body));
      assert.deepEqual(partial.body.recipients, ['ok@example.test']);
      assert.deepEqual(partial.body.refused, [{ address: 'blocked@example.test', ...refusal }]);
      const stored = await strict.spool.getMessage(String(partial.body.id));
      assert.deepEqual(
        stored?.recipients.map((r) => r.address),
        ['ok@example.test'],
      );
      const none = await request(`${target}?from=a@example.test&to=blocked@example.test`, {
        body: 'Subject: x\r\n\r\nx\r\n',
        headers: { 'content-type': 'message/rfc822' },
      });
      assert.equal(none.status, 422);
      assert.equal(none.body.code, 'RECIPIENTS_REFUSED');
      assert.match(
        String(none.body.detail),
        /^to: every recipient was refused \(blocked@example\.test: 550 5\.1\.1/,
      );
      assert.equal((await strict.spool.stats()).messages, 1);
    } finally {
      await strict.close();
    }
  });
});

describe('injection when the server cannot take mail', () => {
  it('503 with Retry-After when the spool disk is short, and without an acceptor', async () => {
    const full = await startTestApi({ extra: { freeBytes: () => 1000 } });
    try {
      const reply = await request(`${full.base}/api/v1/messages`, { json: valid() });
      assert.equal(reply.status, 503);
      assert.equal(reply.headers.get('retry-after'), '60');
      assert.equal(reply.body.code, 'SPOOL_FULL');
      assert.equal((await full.spool.stats()).messages, 0);
    } finally {
      await full.close();
    }
    const none = await startTestApi({ extra: { acceptor: undefined } });
    try {
      const reply = await request(`${none.base}/api/v1/messages`, { json: valid() });
      assert.equal(reply.status, 503);
    } finally {
      await none.close();
    }
  });
});
