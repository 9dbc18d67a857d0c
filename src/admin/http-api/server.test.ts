/**
 * The API's shared parts: the access rule (`isAuthorized`, unit-tested because
 * tests can only connect from loopback, which is always allowed), schema errors
 * that name the field, problem documents for unknown routes, and the SSE parser
 * the CLI uses (fed in awkward pieces).
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { SseParser } from '../cli/api-client.ts';
import { request, startTestApi, type TestApi } from './api-testkit.ts';
import { formatSchemaError, isAuthorized } from './server.ts';

const digest = (token: string) => createHash('sha256').update(token).digest();

describe('isAuthorized', () => {
  const digests = [digest('first-token'), digest('second-token')];

  it('always lets loopback in, with or without a token', () => {
    for (const ip of ['127.0.0.1', '127.8.9.10', '::1', '::ffff:127.0.0.1']) {
      assert.equal(isAuthorized(ip, undefined, []), true, ip);
    }
  });

  it('needs a matching bearer token from anywhere else', () => {
    for (const ip of ['192.0.2.7', '::ffff:192.0.2.7', '2001:db8::1', '10.0.0.1']) {
      assert.equal(isAuthorized(ip, undefined, digests), false, ip);
      assert.equal(isAuthorized(ip, 'Bearer second-token', digests), true, ip);
      assert.equal(isAuthorized(ip, 'bearer first-token', digests), true, 'scheme is case-insensitive');
      assert.equal(isAuthorized(ip, 'Bearer wrong-token', digests), false);
      assert.equal(isAuthorized(ip, 'Bearer first-token ', digests), false, 'no trailing garbage');
      assert.equal(isAuthorized(ip, 'Basic Zmlyc3QtdG9rZW4=', digests), false);
      assert.equal(isAuthorized(ip, 'Bearer ', digests), false);
      assert.equal(isAuthorized(ip, 'Bearer first-token', []), false, 'no tokens configured: nobody');
    }
  });

  it('does not accept the stored digest itself as a token', () => {
    const hex = digest('first-token').toString('hex');
    assert.equal(isAuthorized('192.0.2.7', `Bearer ${hex}`, digests), false);
  });
});

describe('formatSchemaError', () => {
  it('names the field the way a client wrote it', () => {
    const cases: [Parameters<typeof formatSchemaError>[0], string, string][] = [
      [
        [{ instancePath: '/limit', keyword: 'maximum', message: 'must be <= 500', params: {} }],
        'querystring',
        'limit: must be <= 500',
      ],
      [
        [{ instancePath: '/to/2', keyword: 'type', message: 'must be string', params: {} }],
        'body',
        'to[2]: must be string',
      ],
      [
        [{ instancePath: '/attachments/0', keyword: 'required', params: { missingProperty: 'content' } }],
        'body',
        'attachments[0].content: is required',
      ],
      [
        [{ instancePath: '', keyword: 'additionalProperties', params: { additionalProperty: 'colour' } }],
        'querystring',
        'colour: unknown parameter',
      ],
      [
        [{ instancePath: '/dsn', keyword: 'additionalProperties', params: { additionalProperty: 'x' } }],
        'body',
        'dsn.x: unknown field',
      ],
    ];
    for (const [errors, dataVar, expected] of cases)
      assert.equal(formatSchemaError(errors, dataVar).message, expected);
  });
});

describe('problem documents', () => {
  let api: TestApi;
  before(async () => {
    api = await startTestApi();
  });
  after(async () => {
    await api.close();
  });

  it('unknown routes and wrong methods are RFC 9457 problems', async () => {
    const reply = await request(`${api.base}/api/v2/nothing`);
    assert.equal(reply.status, 404);
    assert.equal(reply.headers.get('content-type'), 'application/problem+json; charset=utf-8');
    assert.deepEqual(Object.keys(reply.body).sort(), ['detail', 'status', 'title', 'type']);
    assert.equal(reply.body.type, 'about:blank');
    assert.equal(reply.body.title, 'Not Found');
    const health = await request(`${api.base}/healthz`);
    assert.deepEqual(health.body, { status: 'ok' });
  });
});

describe('SseParser', () => {
  it('parses events split anywhere, with CRLF, CR or LF line ends and comments', () => {
    const text =
      ': hello\r\nid: 7\r\nevent: delivered\r\ndata: {"a":1}\r\n\r\nretry: 3000\n\nevent: x\rdata: one\rdata: two\r\r';
    for (const size of [1, 2, 3, 7, text.length]) {
      const parser = new SseParser();
      const out = [];
      for (let i = 0; i < text.length; i += size) out.push(...parser.push(text.slice(i, i + size)));
      assert.deepEqual(
        out,
        [
          { event: 'delivered', data: '{"a":1}', id: '7' },
          { event: 'x', data: 'one\ntwo', id: '7' },
        ],
        `pieces of ${size}`,
      );
    }
  });
});
