/**
 * Tests for the `smtp.abuse` section and `smtp.users[].allowedSenders`: defaults,
 * values accepted, values refused with their key path, and the render round trip.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { hashPassword } from './password.ts';
import { renderConfigYaml } from './render.ts';
import { type ConfigFixture, configFixture } from './test-fixture.ts';

let f: ConfigFixture;
let hash: string;
before(async () => {
  f = await configFixture();
  hash = await hashPassword('pw');
});
after(async () => {
  await f.dispose();
});

const loadYaml = async (yaml: string) => f.load(['--config', await f.yamlFile(yaml)]);

describe('smtp.abuse', () => {
  test('defaults: AUTH lockout on, generous rates, trusted clients exempt', async () => {
    const c = await f.load();
    assert.equal(c.smtp.abuse.applyToTrusted, false);
    assert.equal(c.smtp.abuse.auth.maxFailuresPerIp, 5);
    assert.equal(c.smtp.abuse.auth.failureWindowMs, 600_000);
    assert.equal(c.smtp.abuse.auth.lockoutMs, 900_000);
    assert.ok(c.smtp.abuse.perIp.messagesPerMinute >= 100);
  });

  test('every key set, partly set sections keep their defaults, and it renders back', async () => {
    const c = await loadYaml(`
smtp:
  users:
    - { username: shop, passwordHash: "${hash}", allowedSenders: [Shop.Example, "Orders@Shop.Example"] }
  abuse:
    applyToTrusted: true
    maxTrackedKeys: 5000
    auth: { maxFailuresPerIp: 3, maxFailuresPerUser: 0, failureWindow: 5m, lockout: 1h, failureDelay: 0 }
    perIp: { messagesPerMinute: 10 }
    perUser: { messagesPerMinute: 0, recipientsPerMinute: 7 }
    mailbombPerHour: 0
`);
    const a = c.smtp.abuse;
    assert.deepEqual(c.smtp.users[0]?.allowedSenders, ['shop.example', 'Orders@shop.example']);
    assert.equal(a.applyToTrusted, true);
    assert.equal(a.maxTrackedKeys, 5000);
    assert.deepEqual(a.auth, {
      maxFailuresPerIp: 3,
      maxFailuresPerUser: 0,
      failureWindowMs: 300_000,
      lockoutMs: 3_600_000,
      failureDelayMs: 0,
    });
    assert.equal(a.perIp.messagesPerMinute, 10);
    assert.equal(a.perIp.recipientsPerMinute, 6000);
    assert.deepEqual(a.perUser, { messagesPerMinute: 0, recipientsPerMinute: 7 });
    assert.equal(a.mailbombPerHour, 0);
    const again = await f.load(['--config', await f.yamlFile(renderConfigYaml(c, { redact: false }))]);
    assert.deepEqual(again.smtp.abuse, a);
    assert.deepEqual(again.smtp.users, c.smtp.users);
  });

  test('refusals name the key', async () => {
    const error = await f.loadError([
      '--config',
      await f.yamlFile(`
smtp:
  users: [{ username: u, passwordHash: "${hash}", allowedSenders: ["a b@example.com", "@x"] }]
  abuse:
    perIP: { messagesPerMinute: 1 }
    auth: { maxFailuresPerIp: -1, failureDelay: 1h }
    mailbombPerHour: lots
`),
    ]);
    const text = error.message;
    assert.match(text, /smtp\.abuse\.perIP.*did you mean "perIp"/);
    assert.match(text, /smtp\.abuse\.auth\.maxFailuresPerIp/);
    assert.match(text, /smtp\.abuse\.auth\.failureDelay/);
    assert.match(text, /smtp\.abuse\.mailbombPerHour/);
    assert.match(text, /smtp\.users\[0\]\.allowedSenders\[0\]/);
    assert.match(text, /smtp\.users\[0\]\.allowedSenders\[1\]/);
  });
});
