/**
 * Tests for the delivery tuning keys of the config file: shaping, routes, client
 * timeouts, idleConnection, delayWarningAfter, ipv6 and DKIM keys (read from real
 * key files in a temporary directory). Each key is shown accepted with its default
 * and refused with its key path named.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type ConfigFixture, configFixture } from './test-fixture.ts';

let f: ConfigFixture;
let edKey: string;
let rsaKey: string;
let weakKey: string;
before(async () => {
  f = await configFixture();
  await mkdir(join(f.dir, 'keys'));
  const pem = (type: 'ed25519' | 'rsa', bits?: number): string =>
    (type === 'rsa'
      ? generateKeyPairSync('rsa', { modulusLength: bits ?? 1024 })
      : generateKeyPairSync('ed25519')
    ).privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
  edKey = join(f.dir, 'keys', 'ed.pem');
  rsaKey = join(f.dir, 'keys', 'rsa.pem');
  weakKey = join(f.dir, 'keys', 'weak.pem');
  await writeFile(edKey, pem('ed25519'));
  await writeFile(rsaKey, pem('rsa'));
  await writeFile(weakKey, pem('rsa', 512));
  await writeFile(join(f.dir, 'keys', 'not-a-key.pem'), 'hello\n');
});
after(async () => {
  await f.dispose();
});

const loadYaml = async (yaml: string) => f.load(['--config', await f.yamlFile(yaml)]);

describe('delivery keys accepted', () => {
  test('shaping rules get the documented defaults for what they leave out', async () => {
    const c = await loadYaml(`
delivery:
  shaping:
    - { match: Example.COM. }
    - { match: "*.example.net", maxConnections: 2, messagesPerConnection: 5, messagesPerMinute: 60,
        pauseAfterFailure: 0, pauseAfterDeliveries: 10, pause: 2m }
    - { match: "mx:*.Google.com", pauseAfterFailure: 5m }
    - { match: "*" }
`);
    assert.deepEqual(c.delivery.shaping, [
      {
        match: 'example.com',
        maxConnections: 16,
        messagesPerConnection: 100,
        messagesPerMinute: 0,
        pauseAfterFailureMs: 30_000,
        pauseAfterDeliveries: 0,
        pauseMs: 0,
      },
      {
        match: '*.example.net',
        maxConnections: 2,
        messagesPerConnection: 5,
        messagesPerMinute: 60,
        pauseAfterFailureMs: 0,
        pauseAfterDeliveries: 10,
        pauseMs: 120_000,
      },
      {
        match: 'mx:*.google.com',
        maxConnections: 16,
        messagesPerConnection: 100,
        messagesPerMinute: 0,
        pauseAfterFailureMs: 300_000,
        pauseAfterDeliveries: 0,
        pauseMs: 0,
      },
      {
        match: '*',
        maxConnections: 16,
        messagesPerConnection: 100,
        messagesPerMinute: 0,
        pauseAfterFailureMs: 30_000,
        pauseAfterDeliveries: 0,
        pauseMs: 0,
      },
    ]);
  });

  test('relay routes, with and without credentials', async () => {
    const c = await loadYaml(`
delivery:
  routes:
    - name: smarthost
      host: smtp.Example.net
      port: 587
      auth: { username: "mx user", password: "p4ss word" }
      domains: [corp.example, "*.corp.example"]
    - { name: fallback, host: "2001:db8::25", port: 465, tls: implicit, fallbackAfterAttempts: 3 }
    - { name: local, host: 127.0.0.1, port: 2525, tls: none, auth: { username: u, password: p }, fallbackOnPolicyBlock: true }
`);
    assert.deepEqual(c.delivery.routes, [
      {
        name: 'smarthost',
        host: 'smtp.example.net',
        port: 587,
        tls: 'starttls',
        auth: { username: 'mx user', password: 'p4ss word' },
        domains: ['corp.example', '*.corp.example'],
        fallbackAfterAttempts: 0,
        fallbackOnPolicyBlock: false,
      },
      {
        name: 'fallback',
        host: '2001:db8::25',
        port: 465,
        tls: 'implicit',
        domains: [],
        fallbackAfterAttempts: 3,
        fallbackOnPolicyBlock: false,
      },
      {
        name: 'local',
        host: '127.0.0.1',
        port: 2525,
        tls: 'none',
        auth: { username: 'u', password: 'p' },
        domains: [],
        fallbackAfterAttempts: 0,
        fallbackOnPolicyBlock: true,
      },
    ]);
  });

  test('client timeouts map to the client names; unset ones are left to the client', async () => {
    const all = await loadYaml(`
delivery:
  timeouts: { connect: 10s, greeting: 1m, ehlo: 2m, mail: 3m, rcpt: 4m, dataInit: 90s, dataBlock: 100s,
              dataTerm: 11m, starttls: 45s, idle: 5s }
`);
    assert.deepEqual(all.delivery.timeouts, {
      connectMs: 10_000,
      greetingMs: 60_000,
      ehloMs: 120_000,
      mailMs: 180_000,
      rcptMs: 240_000,
      dataInitMs: 90_000,
      dataBlockMs: 100_000,
      dataTermMs: 660_000,
      starttlsMs: 45_000,
      idleMs: 5000,
    });
    const some = await loadYaml('delivery: { timeouts: { connect: 2500 } }');
    assert.deepEqual(some.delivery.timeouts, { connectMs: 2500 });
  });

  test('idleConnection, delayWarningAfter and ipv6', async () => {
    const c = await loadYaml('delivery: { idleConnection: 30s, delayWarningAfter: 4h, ipv6: false }');
    assert.equal(c.delivery.idleConnectionMs, 30_000);
    assert.equal(c.delivery.delayWarningAfterMs, 4 * 3_600_000);
    assert.equal(c.delivery.ipv6, false);
    const off = await loadYaml('delivery: { delayWarningAfter: 0 }');
    assert.equal(off.delivery.delayWarningAfterMs, 0);
  });

  test('DKIM keys: relative paths resolve against the file, RSA and Ed25519 both load', async () => {
    const c = await loadYaml(`
delivery:
  dkim:
    - { domain: Example.com, selector: mx1, privateKeyFile: keys/rsa.pem }
    - { domain: example.com, selector: ed_1, privateKeyFile: "${edKey}" }
`);
    assert.deepEqual(c.delivery.dkim, [
      { domain: 'example.com', selector: 'mx1', privateKeyFile: rsaKey },
      { domain: 'example.com', selector: 'ed_1', privateKeyFile: edKey },
    ]);
    assert.ok(Object.isFrozen(c.delivery.dkim[0]));
  });
});

describe('delivery keys refused, with the key named', () => {
  const refused: [name: string, yaml: string, message: string][] = [
    ['bad match', 'delivery: { shaping: [ { match: "ex ample" } ] }', 'delivery.shaping[0].match: expected'],
    ['bad mx match', 'delivery: { shaping: [ { match: "mx:" } ] }', 'delivery.shaping[0].match: expected'],
    [
      'match missing',
      'delivery: { shaping: [ { maxConnections: 2 } ] }',
      'delivery.shaping[0].match: is required',
    ],
    [
      'zero connections',
      'delivery: { shaping: [ { match: a.example, maxConnections: 0 } ] }',
      'delivery.shaping[0].maxConnections: must be at least 1, got 0',
    ],
    [
      'zero per connection',
      'delivery: { shaping: [ { match: a.example, messagesPerConnection: 0 } ] }',
      'delivery.shaping[0].messagesPerConnection: must be at least 1',
    ],
    [
      'negative rate',
      'delivery: { shaping: [ { match: a.example, messagesPerMinute: -1 } ] }',
      'delivery.shaping[0].messagesPerMinute: must be at least 0, got -1',
    ],
    [
      'bad pause',
      'delivery: { shaping: [ { match: a.example, pauseAfterFailure: soon } ] }',
      'delivery.shaping[0].pauseAfterFailure: expected a duration',
    ],
    [
      'typo in a rule',
      'delivery: { shaping: [ { match: a.example, maxConection: 1 } ] }',
      'delivery.shaping[0].maxConection: unknown key (did you mean "maxConnections"?)',
    ],
    [
      'rule after the catch-all',
      'delivery: { shaping: [ { match: "*" }, { match: a.example } ] }',
      'delivery.shaping[1].match: can never match: delivery.shaping[0] matches every domain first',
    ],
    [
      'same match twice',
      'delivery: { shaping: [ { match: a.example }, { match: A.example } ] }',
      'delivery.shaping[1].match: "a.example" is already matched by delivery.shaping[0]',
    ],
    [
      'pause count without pause',
      'delivery: { shaping: [ { match: a.example, pauseAfterDeliveries: 5 } ] }',
      'delivery.shaping[0].pauseAfterDeliveries: does nothing unless',
    ],
    [
      'pause without count',
      'delivery: { shaping: [ { match: a.example, pause: 1m } ] }',
      'delivery.shaping[0].pause: does nothing unless',
    ],
    [
      'route without port',
      'delivery: { routes: [ { name: r, host: relay.example, domains: ["*"] } ] }',
      'delivery.routes[0].port: is required',
    ],
    [
      'route port',
      'delivery: { routes: [ { name: r, host: relay.example, port: 0, domains: ["*"] } ] }',
      'delivery.routes[0].port: expected a port number 1-65535, got 0',
    ],
    [
      'route tls',
      'delivery: { routes: [ { name: r, host: relay.example, port: 25, tls: ssl, domains: ["*"] } ] }',
      'delivery.routes[0].tls: expected one of "starttls", "implicit", "may", "none", got "ssl"',
    ],
    [
      'route host',
      'delivery: { routes: [ { name: r, host: "relay_1.example", port: 25, domains: ["*"] } ] }',
      'delivery.routes[0].host: expected a host name',
    ],
    [
      'route name',
      'delivery: { routes: [ { name: "my relay", host: relay.example, port: 25, domains: ["*"] } ] }',
      'delivery.routes[0].name: expected a name without spaces',
    ],
    [
      'route names unique',
      'delivery: { routes: [ { name: r, host: a.example, port: 25, domains: [x.example] }, { name: r, host: b.example, port: 25, domains: [y.example] } ] }',
      'delivery.routes[1].name: "r" is already the name of delivery.routes[0]',
    ],
    [
      'route domain pattern',
      'delivery: { routes: [ { name: r, host: a.example, port: 25, domains: ["x.*"] } ] }',
      'delivery.routes[0].domains[0]: expected a domain pattern',
    ],
    [
      'unused route',
      'delivery: { routes: [ { name: r, host: a.example, port: 25 } ] }',
      'delivery.routes[0]: would never be used',
    ],
    [
      'negative fallback',
      'delivery: { routes: [ { name: r, host: a.example, port: 25, fallbackAfterAttempts: -1 } ] }',
      'delivery.routes[0].fallbackAfterAttempts: must be at least 0',
    ],
    [
      'fallback flag',
      'delivery: { routes: [ { name: r, host: a.example, port: 25, fallbackOnPolicyBlock: yes } ] }',
      'delivery.routes[0].fallbackOnPolicyBlock: expected true or false',
    ],
    [
      'auth without username',
      'delivery: { routes: [ { name: r, host: a.example, port: 25, domains: ["*"], auth: { password: pw } } ] }',
      'delivery.routes[0].auth.username: is required',
    ],
    [
      'numeric password',
      'delivery: { routes: [ { name: r, host: a.example, port: 25, domains: ["*"], auth: { username: u, password: 1234 } } ] }',
      'delivery.routes[0].auth.password: expected a string; put the value in quotes',
    ],
    [
      'redacted password',
      'delivery: { routes: [ { name: r, host: a.example, port: 25, domains: ["*"], auth: { username: u, password: "[redacted]" } } ] }',
      'delivery.routes[0].auth.password: is the [redacted] placeholder',
    ],
    [
      'auth key typo',
      'delivery: { routes: [ { name: r, host: a.example, port: 25, domains: ["*"], auth: { usrname: u, password: p } } ] }',
      'delivery.routes[0].auth.usrname: unknown key (did you mean "username"?)',
    ],
    [
      'password over plaintext',
      'delivery: { routes: [ { name: r, host: 192.0.2.1, port: 25, tls: none, domains: ["*"], auth: { username: u, password: p } } ] }',
      'delivery.routes[0].tls: is "none", so the password could not be sent to 192.0.2.1',
    ],
    [
      'timeout typo',
      'delivery: { timeouts: { conect: 5s } }',
      'delivery.timeouts.conect: unknown key (did you mean "connect"?)',
    ],
    [
      'zero timeout',
      'delivery: { timeouts: { dataTerm: 0 } }',
      'delivery.timeouts.dataTerm: must be more than zero',
    ],
    [
      'idle connection',
      'delivery: { idleConnection: forever }',
      'delivery.idleConnection: expected a duration',
    ],
    [
      'late delay warning',
      'delivery: { maxQueueTime: 1d, delayWarningAfter: 2d }',
      'delivery.delayWarningAfter: 2d is not less than the queue lifetime (maxQueueTime 1d)',
    ],
    ['ipv6 word', 'delivery: { ipv6: maybe }', 'delivery.ipv6: expected true or false, got "maybe"'],
    [
      'dkim domain',
      'delivery: { dkim: [ { domain: localhost, selector: s, privateKeyFile: k.pem } ] }',
      'delivery.dkim[0].domain: expected a domain name like example.com, got "localhost"',
    ],
    [
      'dkim selector',
      'delivery: { dkim: [ { domain: example.com, selector: "-s", privateKeyFile: k.pem } ] }',
      'delivery.dkim[0].selector: expected a DKIM selector',
    ],
    [
      'dkim without file',
      'delivery: { dkim: [ { domain: example.com, selector: s } ] }',
      'delivery.dkim[0].privateKeyFile: is required',
    ],
    [
      'dkim pair twice',
      'delivery: { dkim: [ { domain: example.com, selector: s, privateKeyFile: keys/ed.pem }, { domain: example.com, selector: S, privateKeyFile: keys/rsa.pem } ] }',
      'delivery.dkim[1]: s._domainkey.example.com is already configured by delivery.dkim[0]',
    ],
    [
      'dkim file missing',
      'delivery: { dkim: [ { domain: example.com, selector: mx1, privateKeyFile: keys/absent.pem } ] }',
      'delivery.dkim[0].privateKeyFile: the key for mx1._domainkey.example.com (DIR/keys/absent.pem): no such file',
    ],
    [
      'dkim file not a key',
      'delivery: { dkim: [ { domain: example.com, selector: mx1, privateKeyFile: keys/not-a-key.pem } ] }',
      'delivery.dkim[0].privateKeyFile: the key for mx1._domainkey.example.com (DIR/keys/not-a-key.pem): is not an unencrypted PEM private key',
    ],
    [
      'dkim weak key',
      'delivery: { dkim: [ { domain: example.com, selector: mx1, privateKeyFile: keys/weak.pem } ] }',
      'holds an RSA key of 512 bits; DKIM needs at least 1024',
    ],
    [
      'dkim directory',
      'delivery: { dkim: [ { domain: example.com, selector: mx1, privateKeyFile: keys } ] }',
      'delivery.dkim[0].privateKeyFile: the key for mx1._domainkey.example.com (DIR/keys): is not a regular file',
    ],
  ];
  for (const [name, yaml, message] of refused) {
    test(`refuses: ${name}`, async () => {
      const path = await f.yamlFile(yaml);
      const error = await f.loadError(['--config', path]);
      const expected = message.replace('DIR', f.dir);
      assert.ok(
        error.message.includes(expected),
        `message ${JSON.stringify(error.message)} lacks ${JSON.stringify(expected)}`,
      );
      assert.equal(error.origin, path);
    });
  }

  test('a relay password is never echoed in an error', async () => {
    const path = await f.yamlFile(
      'delivery: { routes: [ { name: r, host: a.example, port: 25, domains: ["*"], auth: { username: u, password: "s3cr3t\\u0007" } } ] }',
    );
    const error = await f.loadError(['--config', path]);
    assert.match(error.message, /delivery\.routes\[0\]\.auth\.password: expected 1-1024 characters/);
    assert.doesNotMatch(error.message, /s3cr3t/);
  });
});
