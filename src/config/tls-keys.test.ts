/**
 * Tests for the `delivery.tls` key: outbound TLS rules are read in order with their
 * patterns normalized, an absent key gives no rules, bad values are refused with
 * the key named, rules that can never apply are reported; `mtaSts` is on by
 * default; both survive the `config check` rendering.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { renderConfigYaml } from './render.ts';
import { type ConfigFixture, configFixture } from './test-fixture.ts';

let f: ConfigFixture;
before(async () => {
  f = await configFixture();
});
after(async () => {
  await f.dispose();
});

test('delivery.tls rules load in order, patterns lower-cased', async () => {
  const c = await f.load([
    '--config',
    await f.yamlFile(`
delivery:
  tls:
    - { match: Example.COM, policy: verify }
    - { match: "mx:*.Google.com", policy: encrypt }
    - { match: "*", policy: may }
`),
  ]);
  assert.deepEqual(c.delivery.tls, [
    { match: 'example.com', policy: 'verify' },
    { match: 'mx:*.google.com', policy: 'encrypt' },
    { match: '*', policy: 'may' },
  ]);
  assert.equal(c.delivery.mtaSts, true, 'MTA-STS is on by default');
  const none = await f.load(['--config', await f.yamlFile('delivery: { mtaSts: false }')]);
  assert.deepEqual(none.delivery.tls, []);
  assert.equal(none.delivery.mtaSts, false);
});

test('delivery.tls and mtaSts survive the config check round trip', async () => {
  const original = await f.load([
    '--config',
    await f.yamlFile('delivery: { mtaSts: false, tls: [ { match: "*.example.com", policy: encrypt } ] }'),
  ]);
  const again = await f.load(['--config', await f.yamlFile(renderConfigYaml(original, { redact: false }))]);
  assert.deepEqual(again.delivery.tls, [{ match: '*.example.com', policy: 'encrypt' }]);
  assert.deepEqual(again, original);
});

test('delivery.tls refuses unknown policies, bad patterns and unreachable rules, naming the key', async () => {
  const refused = async (yaml: string, message: string) => {
    const error = await f.loadError(['--config', await f.yamlFile(yaml)]);
    assert.ok(error.message.includes(message), error.message);
  };
  await refused('delivery: { tls: [ { match: a.test, policy: strict } ] }', 'delivery.tls[0].policy');
  await refused('delivery: { tls: [ { match: "a b", policy: may } ] }', 'delivery.tls[0].match');
  await refused('delivery: { tls: [ { policy: may } ] }', 'delivery.tls[0].match');
  await refused('delivery: { mtaSts: maybe }', 'delivery.mtaSts');
  await refused(
    'delivery: { tls: [ { match: "*", policy: may }, { match: a.test, policy: verify } ] }',
    'delivery.tls[1].match: can never match',
  );
});
