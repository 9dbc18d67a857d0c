import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ConfigError, loadConfig } from './load.ts';
import { hashPassword } from './password.ts';
import { type ConfigFixture, configFixture } from './test-fixture.ts';

let f: ConfigFixture;
let dir: string;
before(async () => {
  f = await configFixture();
  dir = f.dir;
});
after(async () => {
  await f.dispose();
});
const yamlFile = (text: string) => f.yamlFile(text);
const load = (argv: string[] = [], env: Record<string, string | undefined> = {}) => f.load(argv, env);
const loadError = (argv: string[], env: Record<string, string | undefined> = {}) => f.loadError(argv, env);

describe('defaults', () => {
  test('an empty command line gives the documented defaults', async () => {
    const c = await load();
    assert.equal(c.hostname, 'mx.test');
    assert.equal(c.dataDir, join(dir, 'data'));
    assert.deepEqual(c.smtp.listeners, [
      {
        name: '127.0.0.1:2525',
        address: '127.0.0.1',
        port: 2525,
        tls: 'starttls',
        deliveryMode: 'async',
        syncBudgetMs: 30_000,
        requireAuth: false,
      },
    ]);
    assert.deepEqual(c.smtp.limits, {
      maxMessageSize: 50 * 1024 * 1024,
      maxRecipients: 1000,
      maxCommandLength: 2048,
      maxLineLength: 998,
      maxHeaderBytes: 1024 * 1024,
      maxConnections: 2000,
      maxConnectionsPerClient: 50,
      idleTimeoutMs: 300_000,
      sessionTimeoutMs: 1_800_000,
      maxErrors: 10,
      maxMessagesPerConnection: 1000,
      minFreeBytes: 64 * 1024 * 1024,
    });
    assert.equal(c.smtp.lineEndings, 'reject');
    assert.deepEqual(c.smtp.tls, {});
    assert.deepEqual(c.smtp.users, []);
    assert.deepEqual(c.smtp.trustedNetworks, ['127.0.0.0/8', '::1/128']);
    assert.deepEqual(c.http, { address: '127.0.0.1', port: 8025, tokens: [] });
    assert.deepEqual(c.dns, { servers: [], timeoutMs: 5000 });
    assert.deepEqual(c.delivery, {
      mxPort: 25,
      retryIntervalsMs: [300_000, 600_000, 1_800_000, 3_600_000, 7_200_000, 14_400_000, 28_800_000],
      maxQueueTimeMs: 5 * 86_400_000,
      shaping: [],
      routes: [],
      timeouts: {},
      idleConnectionMs: 10_000,
      delayWarningAfterMs: 0,
      ipv6: true,
      dkim: [],
      tls: [],
      mtaSts: true,
    });
    assert.deepEqual(c.feedback, {
      webhooks: [],
      retentionMs: 7 * 86_400_000,
      webhookHoldMs: 30 * 86_400_000,
      suppression: { enabled: true, ttlMs: 30 * 86_400_000 },
      eventLog: { enabled: true, path: join(dir, 'data', 'events.log'), maxBytes: 50 * 1024 * 1024, keep: 5 },
      classification: [],
    });
    assert.equal(c.log.level, 'info');
  });

  test('the result is deeply frozen', async () => {
    const c = await load();
    assert.ok(Object.isFrozen(c));
    assert.ok(Object.isFrozen(c.smtp.listeners));
    assert.ok(Object.isFrozen(c.smtp.listeners[0]));
    assert.ok(Object.isFrozen(c.delivery.retryIntervalsMs));
    assert.throws(() => {
      (c.smtp.limits as { maxRecipients: number }).maxRecipients = 1;
    }, TypeError);
  });

  test('an unusable system host name is reported, and --hostname fixes it', async () => {
    const bad = loadConfig({ argv: [], env: {}, cwd: dir, systemHostname: 'bad_name' });
    await assert.rejects(
      bad,
      (e: unknown) => e instanceof ConfigError && /hostname: the system host name/.test(e.message),
    );
    const ok = await loadConfig({
      argv: ['--hostname', 'mx.example.com'],
      env: {},
      cwd: dir,
      systemHostname: 'bad_name',
    });
    assert.equal(ok.hostname, 'mx.example.com');
  });
});

describe('config file', () => {
  test('user-facing names map to the typed shape, units converted', async () => {
    const path = await yamlFile(`
hostname: mail.example.org
dataDir: spool
smtp:
  listeners:
    - { address: 127.0.0.1, port: 2527, deliveryMode: sync }
    - { name: submission, address: "::1", port: 2587, tls: implicit, syncBudget: 250ms, requireAuth: true }
  limits: { maxMessageSize: 10KB, idleTimeout: 30s, sessionTimeout: 2h, minFreeBytes: 0, maxHeaderBytes: 1024 }
  lineEndings: normalize
  tls: { cert: certs/c.pem, key: /abs/k.pem }
  users: [{ username: alice, passwordHash: "${await hashPassword('pw')}" }]
  trustedNetworks: [10.0.0.0/8, "::ffff:192.168.0.0/112", 192.0.2.7]
http: { address: 0.0.0.0, port: 9000, tokens: [abc] }
dns: { servers: [127.0.0.1:5353, "[::1]:53", 192.0.2.1], timeout: 1500 }
delivery: { mxPort: 2526, retryIntervals: [1s, 2s], maxQueueTime: 1d }
log: { level: warn }
`);
    const c = await load(['--config', path]);
    assert.equal(c.hostname, 'mail.example.org');
    assert.equal(c.dataDir, join(dir, 'spool'), 'relative to the file');
    assert.deepEqual(c.smtp.listeners, [
      {
        name: '127.0.0.1:2527',
        address: '127.0.0.1',
        port: 2527,
        tls: 'starttls',
        deliveryMode: 'sync',
        syncBudgetMs: 30_000,
        requireAuth: false,
      },
      {
        name: 'submission',
        address: '::1',
        port: 2587,
        tls: 'implicit',
        deliveryMode: 'async',
        syncBudgetMs: 250,
        requireAuth: true,
      },
    ]);
    assert.equal(c.smtp.limits.maxMessageSize, 10 * 1024);
    assert.equal(c.smtp.limits.idleTimeoutMs, 30_000);
    assert.equal(c.smtp.limits.sessionTimeoutMs, 7_200_000);
    assert.equal(c.smtp.limits.minFreeBytes, 0);
    assert.equal(c.smtp.limits.maxRecipients, 1000, 'unset limits keep defaults');
    assert.equal(c.smtp.lineEndings, 'normalize');
    assert.deepEqual(c.smtp.tls, { certFile: join(dir, 'certs/c.pem'), keyFile: '/abs/k.pem' });
    assert.equal(c.smtp.users[0]?.username, 'alice');
    assert.deepEqual(c.smtp.trustedNetworks, ['10.0.0.0/8', '192.168.0.0/16', '192.0.2.7/32']);
    assert.deepEqual(c.http, { address: '0.0.0.0', port: 9000, tokens: ['abc'] });
    assert.deepEqual(c.dns, { servers: ['127.0.0.1:5353', '[::1]:53', '192.0.2.1'], timeoutMs: 1500 });
    assert.deepEqual(c.delivery, {
      ...(await load()).delivery,
      mxPort: 2526,
      retryIntervalsMs: [1000, 2000],
      maxQueueTimeMs: 86_400_000,
    });
    assert.equal(c.log.level, 'warn');
  });

  test('an empty file is all defaults', async () => {
    const c = await load(['--config', await yamlFile('')]);
    assert.equal(c.smtp.listeners[0]?.name, '127.0.0.1:2525');
  });

  const refused: [name: string, yaml: string, message: string][] = [
    [
      'port as a word',
      'smtp: { listeners: [ { address: 127.0.0.1, port: seventy } ] }',
      'config error: smtp.listeners[0].port: expected a port number 1-65535, got "seventy" (from FILE)',
    ],
    [
      'port too big',
      'delivery: { mxPort: 70000 }',
      'delivery.mxPort: expected a port number 1-65535, got 70000',
    ],
    ['mx port zero', 'delivery: { mxPort: 0 }', 'delivery.mxPort: expected a port number 1-65535, got 0'],
    [
      'listener without port',
      'smtp: { listeners: [ { address: 127.0.0.1 } ] }',
      'smtp.listeners[0].port: is required',
    ],
    [
      'listener host name',
      'smtp: { listeners: [ { address: localhost, port: 25 } ] }',
      'smtp.listeners[0].address: expected an IP',
    ],
    ['unknown top key', 'smpt: {}', 'smpt: unknown key (did you mean "smtp"?)'],
    [
      'unknown nested key',
      'smtp: { limits: { maxMesageSize: 1 } }',
      'smtp.limits.maxMesageSize: unknown key (did you mean "maxMessageSize"?)',
    ],
    [
      'snake_case key',
      'smtp: { limits: { max_recipients: 1 } }',
      'smtp.limits.max_recipients: unknown key (did you mean "maxRecipients"?)',
    ],
    [
      'unknown listener key',
      'smtp: { listeners: [ { address: 127.0.0.1, port: 1, mode: sync } ] }',
      'smtp.listeners[0].mode: unknown key',
    ],
    ['section not a mapping', 'smtp: 5', 'smtp: expected a mapping (key: value lines), got 5'],
    ['document not a mapping', '- a\n- b', '(document): expected a mapping (key: value lines), got a list'],
    [
      'bad enum',
      'smtp: { lineEndings: fix }',
      'smtp.lineEndings: expected one of "reject", "normalize", got "fix"',
    ],
    [
      'zero limit',
      'smtp: { limits: { maxRecipients: 0 } }',
      'smtp.limits.maxRecipients: must be at least 1, got 0',
    ],
    [
      'negative limit',
      'smtp: { limits: { maxErrors: -3 } }',
      'smtp.limits.maxErrors: must be at least 1, got -3',
    ],
    [
      'bad duration',
      'smtp: { limits: { idleTimeout: 5 minutes } }',
      'smtp.limits.idleTimeout: expected a duration',
    ],
    ['zero duration', 'delivery: { maxQueueTime: 0s }', 'delivery.maxQueueTime: must be more than zero'],
    ['bad size', 'smtp: { limits: { maxMessageSize: 50XB } }', 'smtp.limits.maxMessageSize: expected a size'],
    [
      'bad CIDR',
      'smtp: { trustedNetworks: [10.0.0.0/33] }',
      'smtp.trustedNetworks[0]: expected a prefix length 0-32',
    ],
    ['host bits', 'smtp: { trustedNetworks: [10.1.0.0/8] }', 'host bits are set (did you mean 10.0.0.0/8?)'],
    ['bad hostname', 'hostname: "mail_server.example"', 'hostname: expected a host name'],
    ['IP as hostname', 'hostname: 192.0.2.1', 'hostname: expected a host name, not an IP address'],
    [
      'bad hash',
      'smtp: { users: [ { username: a, passwordHash: plain } ] }',
      'smtp.users[0].passwordHash: expected a hash made by',
    ],
    [
      'user with space',
      'smtp: { users: [ { username: "a b", passwordHash: x } ] }',
      'smtp.users[0].username: expected a user name',
    ],
    ['bad dns server', 'dns: { servers: [dns.google] }', 'dns.servers[0]: expected an IP address'],
    ['empty retry list', 'delivery: { retryIntervals: [] }', 'delivery.retryIntervals: at least 1 entry'],
    ['bad log level', 'log: { level: verbose }', 'log.level: expected one of "trace"'],
    [
      'boolean as word',
      'smtp: { listeners: [ { address: 127.0.0.1, port: 1, requireAuth: yes } ] }',
      'requireAuth: expected true or false, got "yes"',
    ],
    [
      'duplicate listener',
      'smtp: { listeners: [ { address: 127.0.0.1, port: 2 }, { address: 127.0.0.1, port: 2 } ] }',
      'smtp.listeners[1]: listener name "127.0.0.1:2" is already used by smtp.listeners[0]',
    ],
    [
      'same endpoint, two names',
      'smtp: { listeners: [ { name: a, address: 127.0.0.1, port: 2 }, { name: b, address: 127.0.0.1, port: 2 } ] }',
      'smtp.listeners[1]: 127.0.0.1:2 is already a listener',
    ],
    ['cert without key', 'smtp: { tls: { cert: a.pem } }', 'smtp.tls: give both cert and key'],
    [
      'per-client above total',
      'smtp: { limits: { maxConnections: 10 } }',
      'smtp.limits.maxConnectionsPerClient: 50 is more than smtp.limits.maxConnections (10)',
    ],
    [
      'requireAuth without users',
      'smtp: { listeners: [ { address: 127.0.0.1, port: 2, requireAuth: true } ] }',
      'smtp.listeners[0].requireAuth: is true but smtp.users is empty',
    ],
    ['YAML syntax', 'smtp: { listeners: [', 'YAML syntax error at line'],
    ['duplicate YAML key', 'hostname: a\nhostname: b', 'YAML syntax error'],
  ];
  for (const [name, yaml, message] of refused) {
    test(`refuses: ${name}`, async () => {
      const path = await yamlFile(yaml);
      const error = await loadError(['--config', path]);
      assert.ok(
        error.message.includes(message.replace('FILE', path)),
        `message ${JSON.stringify(error.message)} lacks ${JSON.stringify(message)}`,
      );
    });
  }

  test('every problem in a file is reported, not just the first', async () => {
    const path = await yamlFile('delivery: { mxPort: x }\nlog: { level: y }\nextra: 1');
    const error = await loadError(['--config', path]);
    assert.equal(error.issues.length, 3);
    assert.deepEqual(error.issues.map((i) => i.key).sort(), ['delivery.mxPort', 'extra', 'log.level']);
    assert.ok(error.issues.every((i) => i.origin === path));
  });

  test('a missing config file is named', async () => {
    const error = await loadError(['--config', 'nope.yaml']);
    assert.match(error.message, /nope\.yaml: cannot read the config file: no such file/);
  });

  test('a password hash is never echoed in an error', async () => {
    const path = await yamlFile('smtp: { users: [ { username: a, passwordHash: "scrypt$1$secretstuff" } ] }');
    const error = await loadError(['--config', path]);
    assert.doesNotMatch(error.message, /secretstuff/);
  });
});
