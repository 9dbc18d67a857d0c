import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
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

describe('precedence and list rules', () => {
  test('defaults < file < environment < flags', async () => {
    const path = await yamlFile(
      'delivery: { mxPort: 2601, maxQueueTime: 2d }\nlog: { level: warn }\nhostname: file.example',
    );
    const fileOnly = await load(['--config', path]);
    assert.equal(fileOnly.delivery.mxPort, 2601);
    const withEnv = await load(['--config', path], { MXPRESS_MX_PORT: '2602', MXPRESS_LOG_LEVEL: 'debug' });
    assert.equal(withEnv.delivery.mxPort, 2602);
    assert.equal(withEnv.log.level, 'debug');
    assert.equal(withEnv.delivery.maxQueueTimeMs, 2 * 86_400_000, 'file value kept where env is silent');
    const withFlags = await load(['--config', path, '--mx-port', '2603'], { MXPRESS_MX_PORT: '2602' });
    assert.equal(withFlags.delivery.mxPort, 2603);
    assert.equal(withFlags.hostname, 'file.example');
  });

  test('MXPRESS_CONFIG names the file; --config wins over it', async () => {
    const a = await yamlFile('delivery: { mxPort: 2701 }');
    const b = await yamlFile('delivery: { mxPort: 2702 }');
    assert.equal((await load([], { MXPRESS_CONFIG: a })).delivery.mxPort, 2701);
    assert.equal((await load(['--config', b], { MXPRESS_CONFIG: a })).delivery.mxPort, 2702);
  });

  test('--smtp adds to the file listeners and drops the default', async () => {
    const path = await yamlFile(
      'smtp: { listeners: [ { address: 127.0.0.1, port: 2527, deliveryMode: sync } ] }',
    );
    const c = await load(['--config', path, '--smtp', '[::1]:2528', '--smtp', '127.0.0.1:0']);
    assert.deepEqual(
      c.smtp.listeners.map((l) => [l.name, l.deliveryMode]),
      [
        ['127.0.0.1:2527', 'sync'],
        ['[::1]:2528', 'async'],
        ['127.0.0.1:0', 'async'],
      ],
    );
    const onlyFlags = await load(['--smtp', '127.0.0.1:2600']);
    assert.deepEqual(
      onlyFlags.smtp.listeners.map((l) => l.name),
      ['127.0.0.1:2600'],
    );
    const env = await load([], { MXPRESS_SMTP: '127.0.0.1:2601, [::1]:2602' });
    assert.deepEqual(
      env.smtp.listeners.map((l) => l.name),
      ['127.0.0.1:2601', '[::1]:2602'],
    );
  });

  test('a flag listener that repeats a file listener is refused with both places named', async () => {
    const path = await yamlFile('smtp: { listeners: [ { address: 127.0.0.1, port: 2527 } ] }');
    const error = await loadError(['--config', path, '--smtp', '127.0.0.1:2527']);
    assert.match(
      error.message,
      /--smtp: listener name "127.0.0.1:2527" is already used by smtp\.listeners\[0\] \(from .*\.yaml\)/,
    );
  });

  test('--trusted-network and --dns-server replace the lists', async () => {
    const path = await yamlFile('smtp: { trustedNetworks: [10.0.0.0/8] }\ndns: { servers: [192.0.2.1] }');
    const c = await load([
      '--config',
      path,
      '--trusted-network',
      '192.168.1.0/24',
      '--dns-server',
      '127.0.0.1:5353',
    ]);
    assert.deepEqual(c.smtp.trustedNetworks, ['192.168.1.0/24']);
    assert.deepEqual(c.dns.servers, ['127.0.0.1:5353']);
    const env = await load(['--config', path], { MXPRESS_TRUSTED_NETWORK: '172.16.0.0/12,fd00::/8' });
    assert.deepEqual(env.smtp.trustedNetworks, ['172.16.0.0/12', 'fd00::/8']);
  });

  test('every flag and its environment twin', async () => {
    const flags = [
      '--data-dir',
      'd1',
      '--http',
      '[::1]:8026',
      '--dns-server',
      '::1',
      '--mx-port',
      '2526',
      '--hostname',
      'h.example',
      '--trusted-network',
      '10.0.0.0/8',
      '--retry-intervals',
      '1s,2s,5m',
      '--max-queue-time',
      '2h',
      '--log-level',
      'error',
    ];
    const env = {
      MXPRESS_DATA_DIR: 'd1',
      MXPRESS_HTTP: '[::1]:8026',
      MXPRESS_DNS_SERVER: '::1',
      MXPRESS_MX_PORT: '2526',
      MXPRESS_HOSTNAME: 'h.example',
      MXPRESS_TRUSTED_NETWORK: '10.0.0.0/8',
      MXPRESS_RETRY_INTERVALS: '1s,2s,5m',
      MXPRESS_MAX_QUEUE_TIME: '2h',
      MXPRESS_LOG_LEVEL: 'error',
    };
    const viaFlags = await load(flags);
    assert.deepEqual(await load([], env), viaFlags);
    assert.equal(viaFlags.dataDir, join(dir, 'd1'));
    assert.deepEqual(viaFlags.http, { address: '::1', port: 8026, tokens: [] });
    assert.deepEqual(viaFlags.dns.servers, ['::1']);
    const { mxPort, retryIntervalsMs, maxQueueTimeMs } = viaFlags.delivery;
    assert.deepEqual(
      { mxPort, retryIntervalsMs, maxQueueTimeMs },
      { mxPort: 2526, retryIntervalsMs: [1000, 2000, 300_000], maxQueueTimeMs: 7_200_000 },
    );
    assert.equal(
      viaFlags.feedback.eventLog.path,
      join(dir, 'd1', 'events.log'),
      'the log follows --data-dir',
    );
    assert.equal(viaFlags.hostname, 'h.example');
    assert.equal(viaFlags.log.level, 'error');
  });

  test('empty environment variables count as unset', async () => {
    const c = await load([], { MXPRESS_MX_PORT: '', MXPRESS_SMTP: ' ' });
    assert.equal(c.delivery.mxPort, 25);
  });

  const badCommandLines: [argv: string[], env: Record<string, string>, message: string][] = [
    [
      ['--mx-port', 'seventy'],
      {},
      'config error: --mx-port: expected a port number 1-65535, got "seventy" (from command line)',
    ],
    [['--smpt', '127.0.0.1:1'], {}, '--smpt: unknown option (did you mean --smtp?)'],
    [['--verbose'], {}, '--verbose: unknown option (see --help)'],
    [['start'], {}, 'start: unexpected argument'],
    [['--hostname'], {}, '--hostname: needs a value'],
    [['--hostname', 'a', '--hostname', 'b'], {}, '--hostname: given more than once'],
    [
      ['--smtp', '::1:2525'],
      {},
      '--smtp: expected ADDRESS:PORT such as 127.0.0.1:2525 or [::1]:2525 (IPv6 addresses go in brackets)',
    ],
    [['--smtp', '127.0.0.1'], {}, '--smtp: expected ADDRESS:PORT'],
    [['--http', 'localhost:80'], {}, '--http: expected an IP address'],
    [['--retry-intervals', '1s,,2s'], {}, '--retry-intervals: empty item in the list'],
    [['--max-queue-time', '5y'], {}, '--max-queue-time: expected a duration'],
    [['--dns-server', '[::1]:0'], {}, '--dns-server: expected a port number 1-65535, got "0"'],
    [
      [],
      { MXPRESS_MX_PORT: 'x' },
      'config error: MXPRESS_MX_PORT: expected a port number 1-65535, got "x" (from environment)',
    ],
    [[], { MXPRESS_MXPORT: '25' }, 'MXPRESS_MXPORT: unknown setting (did you mean MXPRESS_MX_PORT?)'],
    [[], { MXPRESS_SMTP: '127.0.0.1:1,' }, 'MXPRESS_SMTP: empty item in the list'],
    [[], { MXPRESS_TRUSTED_NETWORK: 'everyone' }, 'MXPRESS_TRUSTED_NETWORK: expected a CIDR block'],
  ];
  for (const [argv, env, message] of badCommandLines) {
    test(`refuses ${JSON.stringify(argv)} ${JSON.stringify(env)}`, async () => {
      const error = await loadError(argv, env);
      assert.ok(
        error.message.includes(message),
        `message ${JSON.stringify(error.message)} lacks ${JSON.stringify(message)}`,
      );
    });
  }
});
