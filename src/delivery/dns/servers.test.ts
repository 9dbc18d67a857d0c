/** Server strings, resolv.conf parsing and the resolver's configuration checks. */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { createResolver } from './resolver.ts';
import { parseResolvConf, parseServer, systemServers } from './servers.ts';

test('server strings: ip, ip:port, v6, [v6]:port', () => {
  assert.deepEqual(parseServer('192.0.2.1'), {
    host: '192.0.2.1',
    family: 4,
    port: 53,
    label: '192.0.2.1:53',
  });
  assert.equal(parseServer('127.0.0.1:5353')?.label, '127.0.0.1:5353');
  assert.equal(parseServer('::1')?.label, '[::1]:53');
  assert.equal(parseServer('[2001:DB8::0001]:853')?.label, '[2001:db8::1]:853');
  assert.equal(parseServer('[::1]')?.label, '[::1]:53');
  for (const bad of ['', 'dns.google', '1.2.3.4:0', '1.2.3.4:65536', '[1.2.3.4]:53', '::1:53x', '1.2.3.4:']) {
    assert.equal(parseServer(bad), undefined, bad);
  }
});

test('resolv.conf: nameserver lines in order, at most three, scoped IPv6 skipped', () => {
  const text = [
    '# comment',
    'search example.com',
    'nameserver 10.0.0.1',
    'nameserver fe80::1%eth0',
    '  nameserver   2001:db8::53  ',
    'options timeout:1',
    'nameserver 10.0.0.2',
    'nameserver 10.0.0.3',
  ].join('\n');
  assert.deepEqual(
    parseResolvConf(text).map((s) => s.label),
    ['10.0.0.1:53', '[2001:db8::53]:53', '10.0.0.2:53'],
  );
});

test('systemServers reads the file, and falls back to 127.0.0.1:53', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mxpress-dns-'));
  try {
    const path = join(dir, 'resolv.conf');
    writeFileSync(path, 'nameserver 127.0.0.53\n');
    assert.deepEqual(
      systemServers(path).map((s) => s.label),
      ['127.0.0.53:53'],
    );
    writeFileSync(path, '# nothing\n');
    assert.deepEqual(
      systemServers(path).map((s) => s.label),
      ['127.0.0.1:53'],
    );
    assert.deepEqual(
      systemServers(join(dir, 'missing')).map((s) => s.label),
      ['127.0.0.1:53'],
    );
  } finally {
    rmSync(dir, { recursive: true });
  }
});

test('createResolver normalizes servers and rejects bad configuration', () => {
  const r = createResolver({ servers: ['127.0.0.1:5300', '::1'], timeoutMs: 100 });
  assert.deepEqual(r.servers, ['127.0.0.1:5300', '[::1]:53']);
  assert.ok(createResolver({ servers: [], timeoutMs: 100 }).servers.length >= 1);
  assert.throws(() => createResolver({ servers: ['dns.example'], timeoutMs: 100 }), /not an IP address/);
  assert.throws(() => createResolver({ servers: ['127.0.0.1'], timeoutMs: 0 }), /timeout/);
});
