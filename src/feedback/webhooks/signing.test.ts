/**
 * Tests for webhook signing: the Standard Webhooks specification's published
 * example (secret, id, timestamp, body -> signature) and the key of plain secrets.
 */
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { describe, it } from 'node:test';
import { secretKey, sign, signedHeaders } from './signing.ts';

describe('webhook signing', () => {
  it('matches the Standard Webhooks example signature', () => {
    const signature = sign(
      'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
      'msg_p5jXN8AQM9LWM0D4loKWxJek',
      1614265330,
      '{"test": 2432232314}',
    );
    assert.equal(signature, 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=');
  });

  it('keys whsec_ secrets with their decoded bytes and others with their UTF-8 bytes', () => {
    assert.deepEqual(
      secretKey(`whsec_${Buffer.from([1, 2, 3, 250]).toString('base64')}`),
      Buffer.from([1, 2, 3, 250]),
    );
    assert.deepEqual(secretKey('plain-secret-é'), Buffer.from('plain-secret-é', 'utf8'));
    const headers = signedHeaders('plain-secret-é', 'evt_9', 1700000000, '{}');
    const mac = createHmac('sha256', Buffer.from('plain-secret-é'))
      .update('evt_9.1700000000.{}')
      .digest('base64');
    assert.deepEqual(headers, {
      'webhook-id': 'evt_9',
      'webhook-timestamp': '1700000000',
      'webhook-signature': `v1,${mac}`,
    });
  });
});
