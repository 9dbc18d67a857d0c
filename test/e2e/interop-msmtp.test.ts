/**
 * Interoperability with msmtp (a sendmail-compatible submission client using
 * GnuTLS): STARTTLS without and with certificate pinning, AUTH PLAIN and LOGIN with
 * --passwordeval (and a wrong password), DSN flags, several recipients, and TLS on
 * connect against an implicit-TLS listener.
 *
 * msmtp reads the message on stdin with LF line ends; it sends CRLF, dot-stuffs, and
 * adds Date/Message-ID only when missing (both are given here), so the stored bytes
 * are known exactly. Runs with `-C /dev/null` so no user configuration leaks in.
 * Skips when msmtp is not installed.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { has, type RunResult, run } from '../harness/interop/peers.ts';
import {
  assertSameBytes,
  type InteropServer,
  PASSWORD,
  queueId,
  startInteropServer,
  storedMessage,
  UNTRUSTED_SOURCE,
  USER,
} from '../harness/interop/server.ts';

const skip = !has('msmtp') && 'msmtp not installed';

const LINES = [
  'Date: Mon, 1 Jan 2024 00:00:00 +0000',
  'Message-ID: <msmtp-fixed@client.example>',
  'From: a@example.net',
  'To: b@example.org',
  'Subject: msmtp interop',
  '',
  '.a line that starts with a dot',
  '8-bit: héllo ✓',
];
const INPUT = `${LINES.join('\n')}\n`;
const EXPECTED = `${LINES.join('\r\n')}\r\n`;

describe('msmtp', { skip }, () => {
  let mx: InteropServer;
  before(async () => {
    mx = await startInteropServer({ implicitTls: true });
  });
  after(async () => {
    await mx.stop();
  });

  function msmtp(args: readonly string[], recipients: readonly string[], port = mx.port): Promise<RunResult> {
    return run(
      'msmtp',
      [
        '-C',
        '/dev/null',
        '-d',
        '--host=127.0.0.1',
        `--port=${port}`,
        '--domain=client.example',
        '--from=a@example.net',
        '--timeout=10',
        ...args,
        '--',
        ...recipients,
      ],
      { input: INPUT },
    );
  }

  it('sends over STARTTLS (--tls=on --tls-certcheck=off); the message is stored byte for byte', async () => {
    const r = await msmtp(['--tls=on', '--tls-starttls=on', '--tls-certcheck=off'], ['b@example.org']);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /^--> STARTTLS\r?$/m);
    assert.match(r.stdout, /^<-- 220 2\.0\.0 Ready to start TLS\r?$/m);
    const copy = await storedMessage(mx, queueId(r.stdout));
    assertSameBytes(copy.rest, EXPECTED, 'stored body after Received');
    assert.equal(copy.message.origin.protocol, 'ESMTPS');
    assert.equal(copy.message.origin.helo, 'client.example');
    assert.equal(copy.message.envelope.mailFrom, 'a@example.net');
  });

  it('verifies the certificate mxpress presents by its SHA-256 fingerprint', async () => {
    const fingerprint = mx.server.running.tls.fingerprint256;
    const good = await msmtp(
      ['--tls=on', '--tls-starttls=on', `--tls-fingerprint=${fingerprint}`],
      ['b@example.org'],
    );
    assert.equal(good.code, 0, good.stdout + good.stderr);
    queueId(good.stdout);
    const wrong = fingerprint.replace(/^[0-9A-F]{2}/, (h) => (h === '00' ? '01' : '00'));
    const before = mx.received.count;
    const bad = await msmtp(
      ['--tls=on', '--tls-starttls=on', `--tls-fingerprint=${wrong}`],
      ['b@example.org'],
    );
    assert.notEqual(bad.code, 0, 'msmtp accepted a certificate with the wrong fingerprint');
    assert.equal(mx.received.count, before);
  });

  for (const method of ['plain', 'login']) {
    it(`authenticates with --auth=${method} --passwordeval and may relay from an untrusted address`, async () => {
      const r = await msmtp(
        [
          '--tls=on',
          '--tls-starttls=on',
          '--tls-certcheck=off',
          `--source-ip=${UNTRUSTED_SOURCE}`,
          `--auth=${method}`,
          `--user=${USER}`,
          `--passwordeval=echo '${PASSWORD}'`,
        ],
        ['b@example.org'],
      );
      assert.equal(r.code, 0, r.stdout + r.stderr);
      assert.match(r.stdout, new RegExp(`--> AUTH ${method.toUpperCase()}\\b`));
      assert.match(r.stdout, /<-- 235 2\.7\.0 /);
      const copy = await storedMessage(mx, queueId(r.stdout));
      assertSameBytes(copy.rest, EXPECTED, 'stored body after Received');
      assert.equal(copy.message.origin.authUser, USER);
      assert.equal(copy.message.origin.clientIp, UNTRUSTED_SOURCE);
      assert.equal(copy.message.origin.protocol, 'ESMTPSA');
    });
  }

  it('fails with a wrong password (535) and nothing is stored', async () => {
    const before = mx.received.count;
    const r = await msmtp(
      [
        '--tls=on',
        '--tls-starttls=on',
        '--tls-certcheck=off',
        `--source-ip=${UNTRUSTED_SOURCE}`,
        '--auth=plain',
        `--user=${USER}`,
        '--passwordeval=echo wrong',
      ],
      ['b@example.org'],
    );
    assert.notEqual(r.code, 0);
    assert.match(r.stdout + r.stderr, /535 5\.7\.8 /);
    assert.equal(mx.received.count, before);
  });

  it('sends DSN requests (--dsn-notify, --dsn-return) and several recipients in one transaction', async () => {
    const r = await msmtp(
      [
        '--tls=on',
        '--tls-starttls=on',
        '--tls-certcheck=off',
        '--dsn-notify=failure,delay',
        '--dsn-return=headers',
      ],
      ['b@example.org', 'c@example.org', 'd@example.com'],
    );
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const copy = await storedMessage(mx, queueId(r.stdout));
    assertSameBytes(copy.rest, EXPECTED, 'stored body after Received');
    assert.equal(copy.message.envelope.ret, 'HDRS');
    assert.deepEqual(
      copy.message.recipients.map((x) => [x.address, x.notify]),
      [
        ['b@example.org', ['FAILURE', 'DELAY']],
        ['c@example.org', ['FAILURE', 'DELAY']],
        ['d@example.com', ['FAILURE', 'DELAY']],
      ],
    );
  });
  it('speaks TLS from the first byte to the implicit-TLS listener (--tls-starttls=off)', async () => {
    assert.ok(mx.implicitPort, 'no implicit-TLS listener');
    const r = await msmtp(
      ['--tls=on', '--tls-starttls=off', '--tls-certcheck=off'],
      ['b@example.org'],
      mx.implicitPort,
    );
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const copy = await storedMessage(mx, queueId(r.stdout));
    assertSameBytes(copy.rest, EXPECTED, 'stored body after Received');
    assert.equal(copy.message.origin.protocol, 'ESMTPS');
  });
});
