import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadConfig } from '../../config/load.ts';
import { connectHost, formatBanner, swaksHint } from './banner.ts';

async function config(argv: string[]) {
  return loadConfig({ argv: ['--hostname', 'mx.test', ...argv], env: {}, cwd: '/srv/mx' });
}

test('banner for the defaults', async () => {
  const c = await config([]);
  const text = formatBanner(
    c,
    {
      listeners: [
        { name: '127.0.0.1:2525', address: '127.0.0.1', port: 2525, tls: 'starttls', deliveryMode: 'async' },
      ],
      http: { address: '127.0.0.1', port: 8025 },
      tls: { selfSigned: true, fingerprint256: 'AB:CD' },
    },
    '9.9.9',
  );
  assert.equal(
    text,
    [
      'mxpress 9.9.9 is running as mx.test',
      '  SMTP      127.0.0.1:2525: STARTTLS offered, async delivery',
      '            no AUTH needed from 127.0.0.0/8, ::1/128; others need AUTH (no users configured yet, see "mxpress hash-password")',
      '  HTTP API  http://127.0.0.1:8025/',
      '  TLS       self-signed certificate, SHA-256 AB:CD',
      '  Data dir  /srv/mx/data',
      '  DNS       system resolvers (/etc/resolv.conf)',
      '  Try       swaks --server 127.0.0.1:2525 --from me@example.com --to you@example.com',
      'Stop with Ctrl-C or SIGTERM (a second signal exits at once).',
      '',
    ].join('\n'),
  );
});

test('wildcard and IPv6 listeners, DNS servers, MX port and no HTTP', async () => {
  const c = await config([
    '--smtp',
    '0.0.0.0:25',
    '--smtp',
    '[::]:2526',
    '--dns-server',
    '127.0.0.1:5353',
    '--mx-port',
    '2525',
  ]);
  const text = formatBanner(
    c,
    {
      listeners: [
        { name: '0.0.0.0:25', address: '0.0.0.0', port: 25, tls: 'none', deliveryMode: 'sync' },
        { name: '[::]:2526', address: '::', port: 2526, tls: 'implicit', deliveryMode: 'async' },
      ],
      tls: { selfSigned: false, fingerprint256: 'EF' },
    },
    '1.0.0',
  );
  assert.match(text, /SMTP {6}0\.0\.0\.0:25 \(connect to 127\.0\.0\.1:25\): no TLS, sync delivery/);
  assert.match(
    text,
    /^ {12}\[::\]:2526 \(connect to \[::1\]:2526\): TLS from the first byte \(implicit TLS\), async delivery$/m,
  );
  assert.match(text, /HTTP API {2}not running/);
  assert.match(text, /TLS {7}certificate, SHA-256 EF/);
  assert.match(text, /DNS {7}127\.0\.0\.1:5353/);
  assert.match(text, /Delivery {2}to port 2525 on MX hosts/);
  assert.match(text, /Try {7}swaks --server 127\.0\.0\.1:25 --from/);
});

test('swaks hints follow TLS mode, AUTH and IPv6', () => {
  const base = { name: 'x', address: '::1', port: 2587, tls: 'starttls', deliveryMode: 'async' };
  assert.equal(
    swaksHint(base, false),
    'swaks --server ::1 --port 2587 --from me@example.com --to you@example.com',
  );
  assert.equal(
    swaksHint({ ...base, address: '127.0.0.1' }, true),
    'swaks --server 127.0.0.1:2587 --tls --auth-user USER --from me@example.com --to you@example.com',
  );
  assert.match(swaksHint({ ...base, tls: 'implicit' }, false), /--tls-on-connect/);
  assert.equal(connectHost('0.0.0.0'), '127.0.0.1');
  assert.equal(connectHost('::'), '::1');
  assert.equal(connectHost('192.0.2.1'), '192.0.2.1');
});

test('a requireAuth listener says AUTH is required from everyone, and counts users', async () => {
  const loaded = await config(['--smtp', '127.0.0.1:587']);
  const listener = { ...loaded.smtp.listeners[0]!, requireAuth: true };
  const users = [{ username: 'a', passwordHash: 'x' }];
  const c = { ...loaded, smtp: { ...loaded.smtp, listeners: [listener], users } };
  const started = {
    listeners: [
      { name: '127.0.0.1:587', address: '127.0.0.1', port: 587, tls: 'starttls', deliveryMode: 'async' },
    ],
    tls: { selfSigned: true, fingerprint256: 'AB' },
  };
  const text = formatBanner(c, started, '1');
  assert.match(text, /^ {12}AUTH required from every client$/m);
  assert.match(text, /--tls --auth-user USER/);
  const open = formatBanner(
    { ...c, smtp: { ...c.smtp, listeners: [{ ...listener, requireAuth: false }] } },
    started,
    '1',
  );
  assert.match(open, /no AUTH needed from 127\.0\.0\.0\/8, ::1\/128; others need AUTH \(1 user\)$/m);
});
