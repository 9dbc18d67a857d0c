/**
 * Tests for rendering a Config back to YAML: the output loads to the same Config
 * (every section, delivery tuning and feedback included), secrets are redacted and
 * the redacted form is refused; `mxpress config check` (a real child process)
 * prints the same document.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parse } from 'yaml';
import { runCli } from '../admin/cli/test-helpers.ts';
import { hashPassword } from './password.ts';
import { REDACTED, renderConfigYaml } from './render.ts';
import { type ConfigFixture, configFixture } from './test-fixture.ts';

let f: ConfigFixture;
before(async () => {
  f = await configFixture();
});
after(async () => {
  await f.dispose();
});
const yamlFile = (text: string) => f.yamlFile(text);
const load = (argv: string[] = [], env: Record<string, string | undefined> = {}) => f.load(argv, env);

describe('rendering', () => {
  test('the rendered YAML loads back to the same Config', async () => {
    const hash = await hashPassword('secret');
    const path = await yamlFile(`
smtp:
  listeners: [ { name: sub, address: "::1", port: 2587, tls: none, syncBudget: 1500ms } ]
  limits: { maxMessageSize: 12345, minFreeBytes: 0, maxHeaderBytes: 2KB }
  users: [ { username: bob, passwordHash: "${hash}" } ]
  tls: { cert: c.pem, key: k.pem }
http: { tokens: [t0k3n] }
dns: { servers: ["[::1]:5353"] }
delivery: { retryIntervals: [90s, 1h] }
`);
    const original = await load(['--config', path, '--smtp', '127.0.0.1:0']);
    const again = await load(['--config', await yamlFile(renderConfigYaml(original, { redact: false }))]);
    assert.deepEqual(again, original);
  });

  test('redaction hides password hashes and tokens', async () => {
    const hash = await hashPassword('secret');
    const path = await yamlFile(
      `smtp: { users: [ { username: bob, passwordHash: "${hash}" } ] }\nhttp: { tokens: [t0k3n] }`,
    );
    const text = renderConfigYaml(await load(['--config', path]), { redact: true });
    assert.doesNotMatch(text, /t0k3n/);
    assert.ok(!text.includes(hash));
    const doc = parse(text) as {
      smtp: { users: { username: string; passwordHash: string }[] };
      http: { tokens: string[] };
    };
    assert.deepEqual(doc.smtp.users, [{ username: 'bob', passwordHash: REDACTED }]);
    assert.deepEqual(doc.http.tokens, [REDACTED]);
    const error = await f.loadError(['--config', await yamlFile(text)]);
    assert.deepEqual(error.issues.map((i) => i.key).sort(), ['http.tokens[0]', 'smtp.users[0].passwordHash']);
  });
});

const WHSEC = `whsec_${Buffer.alloc(32, 9).toString('base64')}`;
const FULL_DELIVERY_AND_FEEDBACK = `
delivery:
  shaping:
    - { match: "*.example.net", maxConnections: 2, messagesPerMinute: 60, pauseAfterFailure: 0, pauseAfterDeliveries: 3, pause: 1500ms }
    - { match: "mx:*.google.com" }
  routes:
    - { name: smarthost, host: relay.example, port: 587, auth: { username: mx, password: "relay-pass-1" }, domains: [corp.example] }
    - { name: fallback, host: "::1", port: 2525, tls: may, fallbackAfterAttempts: 2, fallbackOnPolicyBlock: true }
  timeouts: { connect: 5s, dataTerm: 12m, idle: 750ms }
  idleConnection: 20s
  delayWarningAfter: 3h
  ipv6: false
  dkim: [ { domain: example.com, selector: mx1, privateKeyFile: dkim.pem } ]
feedback:
  webhooks:
    - { url: "https://hooks.example/in", secret: "${WHSEC}", events: [bounced, expired] }
    - { url: "http://127.0.0.1:9/x", secret: "plain-secret-0123456789" }
  suppression: { ttl: 0 }
  eventLog: { path: ev.log, maxBytes: 3000, keep: 2 }
  classification:
    - { text: "quota|over ?limit", code: 452, severity: soft, category: mailbox-full }
    - { enhanced: "5.1.1", errorCode: NO_SUCH_USER, severity: hard, category: bad-mailbox }
`;

describe('rendering the delivery tuning and feedback keys', () => {
  before(async () => {
    const { privateKey } = generateKeyPairSync('ed25519');
    await writeFile(join(f.dir, 'dkim.pem'), privateKey.export({ type: 'pkcs8', format: 'pem' }));
  });

  test('every new key survives the round trip', async () => {
    const original = await load(['--config', await yamlFile(FULL_DELIVERY_AND_FEEDBACK)]);
    assert.equal(original.delivery.routes.length, 2, 'the fixture is the one meant');
    assert.equal(original.feedback.classification.length, 2);
    const text = renderConfigYaml(original, { redact: false });
    const again = await load(['--config', await yamlFile(text)]);
    assert.deepEqual(again, original);
  });

  test('relay passwords and webhook secrets are redacted, and the redacted form is refused', async () => {
    const config = await load(['--config', await yamlFile(FULL_DELIVERY_AND_FEEDBACK)]);
    const text = renderConfigYaml(config, { redact: true });
    for (const secret of ['relay-pass-1', WHSEC, 'plain-secret-0123456789'])
      assert.ok(!text.includes(secret));
    const doc = parse(text) as {
      delivery: { routes: { auth?: { username: string; password: string } }[] };
      feedback: { webhooks: { secret: string }[] };
    };
    assert.deepEqual(doc.delivery.routes[0]?.auth, { username: 'mx', password: REDACTED });
    assert.deepEqual(
      doc.feedback.webhooks.map((w) => w.secret),
      [REDACTED, REDACTED],
    );
    const error = await f.loadError(['--config', await yamlFile(text)]);
    assert.deepEqual(error.issues.map((i) => i.key).sort(), [
      'delivery.routes[0].auth.password',
      'feedback.webhooks[0].secret',
      'feedback.webhooks[1].secret',
    ]);
  });

  test('mxpress config check prints the same document, secrets redacted', async () => {
    const path = await yamlFile(FULL_DELIVERY_AND_FEEDBACK);
    const config = await load(['--config', path]);
    const r = await runCli(['config', 'check', '--config', path, '--hostname', 'mx.test'], {
      cwd: f.dir,
      timeoutMs: 20_000,
    });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(parse(r.stdout), parse(renderConfigYaml(config, { redact: true })));
    const restored = r.stdout
      .replace(`password: "${REDACTED}"`, 'password: relay-pass-1')
      .replace(`secret: "${REDACTED}"`, `secret: "${WHSEC}"`)
      .replace(`secret: "${REDACTED}"`, 'secret: plain-secret-0123456789');
    assert.deepEqual(await load(['--config', await yamlFile(restored)]), config);
  });
});
