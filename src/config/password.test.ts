import assert from 'node:assert/strict';
import { test } from 'node:test';
import { hashPassword, MAX_PASSWORD_BYTES, parsePasswordHash, verifyPassword } from './password.ts';

test('hash format: scrypt$16384$8$1$salt$hash with 16-byte salt and 32-byte key', async () => {
  const hash = await hashPassword('correct horse');
  const parts = hash.split('$');
  assert.equal(parts.length, 6);
  assert.deepEqual(parts.slice(0, 4), ['scrypt', '16384', '8', '1']);
  assert.equal(Buffer.from(parts[4]!, 'base64').length, 16);
  assert.equal(Buffer.from(parts[5]!, 'base64').length, 32);
  assert.notEqual(await hashPassword('correct horse'), hash, 'salted');
});

test('verify accepts the password and refuses others', async () => {
  const hash = await hashPassword('correct horse');
  assert.equal(await verifyPassword('correct horse', hash), true);
  assert.equal(await verifyPassword('correct horse ', hash), false);
  assert.equal(await verifyPassword('Correct horse', hash), false);
  assert.equal(await verifyPassword('', hash), false);
});

test('unicode passwords are compared after NFC normalization', async () => {
  const hash = await hashPassword('caf\u00e9');
  assert.equal(await verifyPassword('cafe\u0301', hash), true);
});

test('malformed or out-of-bounds hashes verify false without throwing', async () => {
  const good = await hashPassword('pw');
  const [, , , , salt, key] = good.split('$');
  const bad = [
    '',
    'plain',
    `bcrypt$16384$8$1$${salt}$${key}`,
    `scrypt$16383$8$1$${salt}$${key}`, // not a power of two
    `scrypt$1048576$8$1$${salt}$${key}`, // 1 GiB of memory
    `scrypt$16384$8$99$${salt}$${key}`,
    `scrypt$16384$8$1$$${key}`,
    `scrypt$16384$8$1$${salt}$not*base64`,
    `scrypt$16384$8$1$${salt}$${key}$extra`,
  ];
  for (const hash of bad) {
    assert.equal(parsePasswordHash(hash), undefined, hash);
    assert.equal(await verifyPassword('pw', hash), false, hash);
  }
});

test('a hash with other (bounded) parameters still verifies', async () => {
  // Made with crypto.scryptSync('pw', 'saltsaltsaltsalt', 24, { N: 1024, r: 4, p: 2 }).
  const { scryptSync } = await import('node:crypto');
  const salt = Buffer.from('saltsaltsaltsalt');
  const key = scryptSync('pw', salt, 24, { N: 1024, r: 4, p: 2 });
  const hash = `scrypt$1024$4$2$${salt.toString('base64')}$${key.toString('base64')}`;
  assert.equal(await verifyPassword('pw', hash), true);
  assert.equal(await verifyPassword('px', hash), false);
});

test('over-long passwords are refused', async () => {
  const long = 'x'.repeat(MAX_PASSWORD_BYTES + 1);
  await assert.rejects(hashPassword(long), RangeError);
  await assert.rejects(hashPassword(''), TypeError);
  assert.equal(await verifyPassword(long, await hashPassword('pw')), false);
});
