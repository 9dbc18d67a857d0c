import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parse } from 'yaml';
import { CONFIG_FLAGS } from '../../config/args.ts';
import { hashPassword, verifyPassword } from '../../config/password.ts';
import { runCli } from './test-helpers.ts';

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mxpress-cli-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('help and version', () => {
  test('--help lists the commands and exits 0', async () => {
    const r = await runCli(['--help'], { cwd: dir });
    assert.equal(r.code, 0);
    for (const word of ['start', 'config check', 'hash-password', 'help [command]', '--version']) {
      assert.ok(r.stdout.includes(word), word);
    }
    assert.equal(r.stderr, '');
  });

  test('start --help and config check --help list every configuration flag', async () => {
    for (const args of [
      ['start', '--help'],
      ['config', 'check', '--help'],
      ['help', 'start'],
    ]) {
      const r = await runCli(args, { cwd: dir });
      assert.equal(r.code, 0, args.join(' '));
      for (const flag of CONFIG_FLAGS)
        assert.ok(r.stdout.includes(`--${flag.name} ${flag.value}`), `${args} ${flag.name}`);
      assert.match(r.stdout, /MXPRESS_DATA_DIR/);
    }
  });

  test('hash-password --help and config --help explain themselves', async () => {
    const hp = await runCli(['hash-password', '-h'], { cwd: dir });
    assert.equal(hp.code, 0);
    assert.match(hp.stdout, /Usage: mxpress hash-password/);
    const cfg = await runCli(['config', '--help'], { cwd: dir });
    assert.equal(cfg.code, 0);
    assert.match(cfg.stdout, /Usage: mxpress config check/);
  });

  test('--version prints the package version', async () => {
    const pkg = JSON.parse(await readFile(new URL('../../../package.json', import.meta.url), 'utf8')) as {
      version: string;
    };
    const r = await runCli(['--version'], { cwd: dir });
    assert.equal(r.code, 0);
    assert.equal(r.stdout, `mxpress ${pkg.version}\n`);
  });

  const usageErrors: [string[], RegExp][] = [
    [['strat'], /unknown command "strat" \(did you mean "start"\?\)/],
    [['frobnicate'], /unknown command "frobnicate"; see mxpress --help/],
    [['config'], /config needs a subcommand \(check\)/],
    [['config', 'show'], /config has no subcommand "show"/],
    [['help', 'nope'], /no command "nope"/],
    [[], /Usage: mxpress <command>/],
    [['hash-password', 'extra'], /unexpected argument "extra"/],
  ];
  for (const [args, message] of usageErrors) {
    test(`usage error ${JSON.stringify(args)} exits 64`, async () => {
      const r = await runCli(args, { cwd: dir });
      assert.equal(r.code, 64);
      assert.match(r.stderr, message);
    });
  }
});

describe('config check', () => {
  test('prints the effective config as YAML with secrets redacted', async () => {
    const hash = await hashPassword('pw');
    const file = join(dir, 'good.yaml');
    await writeFile(
      file,
      `smtp:\n  listeners: [ { address: 127.0.0.1, port: 2527, deliveryMode: sync } ]\n  users: [ { username: ann, passwordHash: "${hash}" } ]\nhttp: { tokens: [sekrit-token] }\n`,
    );
    const r = await runCli(
      ['config', 'check', '--config', file, '--smtp', '[::1]:2528', '--hostname', 'mx.test'],
      {
        cwd: dir,
        env: { MXPRESS_MX_PORT: '2526' },
      },
    );
    assert.equal(r.code, 0, r.stderr);
    assert.ok(!r.stdout.includes(hash) && !r.stdout.includes('sekrit-token'), 'secrets redacted');
    const doc = parse(r.stdout) as {
      hostname: string;
      dataDir: string;
      smtp: {
        listeners: { name: string; deliveryMode: string }[];
        users: { username: string; passwordHash: string }[];
      };
      delivery: { mxPort: number };
    };
    assert.equal(doc.hostname, 'mx.test');
    assert.equal(doc.dataDir, join(dir, 'data'));
    assert.deepEqual(
      doc.smtp.listeners.map((l) => [l.name, l.deliveryMode]),
      [
        ['127.0.0.1:2527', 'sync'],
        ['[::1]:2528', 'async'],
      ],
    );
    assert.deepEqual(doc.smtp.users, [{ username: 'ann', passwordHash: '[redacted]' }]);
    assert.equal(doc.delivery.mxPort, 2526);
  });

  test('a bad config file exits 78 and names the key and the file', async () => {
    const file = join(dir, 'bad.yaml');
    await writeFile(file, 'smtp:\n  listeners:\n    - { address: 127.0.0.1, port: seventy }\n');
    const r = await runCli(['config', 'check', '--config', file], { cwd: dir });
    assert.equal(r.code, 78);
    assert.equal(r.stdout, '');
    assert.equal(
      r.stderr,
      `config error: smtp.listeners[0].port: expected a port number 1-65535, got "seventy" (from ${file})\n`,
    );
  });

  test('bad flags and environment variables exit 78 too', async () => {
    const flag = await runCli(['config', 'check', '--smpt', '127.0.0.1:25'], { cwd: dir });
    assert.equal(flag.code, 78);
    assert.match(flag.stderr, /--smpt: unknown option \(did you mean --smtp\?\)/);
    const env = await runCli(['config', 'check'], {
      cwd: dir,
      env: { MXPRESS_CONFIG: join(dir, 'absent.yaml') },
    });
    assert.equal(env.code, 78);
    assert.match(env.stderr, /absent\.yaml: cannot read the config file: no such file/);
  });

  test('TLS files named in the config are checked', async () => {
    const file = join(dir, 'tls.yaml');
    await writeFile(file, 'smtp: { tls: { cert: nope.pem, key: nope-key.pem } }\n');
    const r = await runCli(['config', 'check', '--config', file, '--hostname', 'mx.test'], { cwd: dir });
    assert.equal(r.code, 78);
    assert.match(r.stderr, /smtp\.tls\.cert: cannot read certificate file .*nope\.pem: no such file/);
  });
});

describe('hash-password', () => {
  test('reads a piped password and prints a hash that verifies', async () => {
    const r = await runCli(['hash-password'], { cwd: dir, stdin: 'correct horse\n' });
    assert.equal(r.code, 0, r.stderr);
    const hash = r.stdout.trim();
    assert.match(hash, /^scrypt\$16384\$8\$1\$/);
    assert.equal(await verifyPassword('correct horse', hash), true);
    assert.equal(await verifyPassword('correct horse\n', hash), false);
  });

  const refused: [string, RegExp][] = [
    ['', /no password given/],
    ['\n', /no password given/],
    ['one\ntwo\n', /must be one line/],
    ['x'.repeat(2000), /longer than 1024 bytes/],
  ];
  for (const [stdin, message] of refused) {
    test(`refuses ${JSON.stringify(stdin.slice(0, 12))} with exit 65`, async () => {
      const r = await runCli(['hash-password'], { cwd: dir, stdin });
      assert.equal(r.code, 65);
      assert.equal(r.stdout, '');
      assert.match(r.stderr, message);
    });
  }
});
