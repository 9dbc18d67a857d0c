import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { parse } from 'yaml';
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
  });
});
