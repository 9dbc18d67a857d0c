import assert from 'node:assert/strict';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { once } from 'node:events';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { connect, createServer } from 'node:tls';
import { ConfigError } from './errors.ts';
import { loadOrCreateTlsMaterial } from './tls-material.ts';

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mxpress-tls-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

test('makes a valid self-signed certificate for the host name', async () => {
  const dataDir = join(dir, 'a');
  const m = await loadOrCreateTlsMaterial({ dataDir, hostname: 'mx.example.test' });
  assert.equal(m.selfSigned, true);
  const x509 = new X509Certificate(m.cert);
  assert.equal(x509.verify(x509.publicKey), true);
  assert.equal(x509.checkPrivateKey(createPrivateKey(m.key)), true);
  assert.equal(x509.subject, 'CN=mx.example.test');
  assert.equal(x509.issuer, 'CN=mx.example.test');
  assert.equal(x509.subjectAltName, 'DNS:mx.example.test');
  assert.equal(x509.checkHost('mx.example.test', { subject: 'never' }), 'mx.example.test');
  assert.equal(x509.checkHost('other.example.test'), undefined);
  assert.equal(x509.ca, false);
  assert.deepEqual(x509.keyUsage, ['1.3.6.1.5.5.7.3.1']);
  assert.equal(x509.publicKey.asymmetricKeyDetails?.namedCurve, 'prime256v1');
  assert.equal(m.fingerprint256, x509.fingerprint256);
  const from = new Date(x509.validFrom).getTime();
  const to = new Date(x509.validTo).getTime();
  assert.ok(Math.abs(Date.now() - 86_400_000 - from) < 60_000, 'valid from a day ago');
  assert.ok(to - Date.now() > 9.9 * 365 * 86_400_000, 'valid for ten years');
  assert.match(x509.serialNumber, /^[0-9A-F]{32}$/);

  const tlsDir = join(dataDir, 'tls');
  assert.equal((await stat(tlsDir)).mode & 0o777, 0o700);
  assert.equal((await stat(join(tlsDir, 'self-signed.key.pem'))).mode & 0o777, 0o600);
  assert.equal(await readFile(join(tlsDir, 'self-signed.cert.pem'), 'utf8'), m.cert);
});

test('a TLS handshake on 127.0.0.1 succeeds and verifies against the certificate', async () => {
  const m = await loadOrCreateTlsMaterial({ dataDir: join(dir, 'b'), hostname: 'mx.example.test' });
  const server = createServer({ key: m.key, cert: m.cert }, (socket) => {
    socket.end('hello\n');
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening', { signal: AbortSignal.timeout(5000) });
  try {
    const { port } = server.address() as AddressInfo;
    // rejectUnauthorized with the certificate as the only CA: the chain and the name must check out.
    const client = connect({
      host: '127.0.0.1',
      port,
      servername: 'mx.example.test',
      ca: m.cert,
      rejectUnauthorized: true,
    });
    await once(client, 'secureConnect', { signal: AbortSignal.timeout(5000) });
    assert.equal(client.authorized, true);
    assert.equal(client.getPeerX509Certificate()?.fingerprint256, m.fingerprint256);
    const [data] = (await once(client, 'data', { signal: AbortSignal.timeout(5000) })) as [Buffer];
    assert.equal(data.toString(), 'hello\n');
    client.destroy();
  } finally {
    server.close();
  }
});

test('the pair is reused, and replaced for a new host name or when damaged', async () => {
  const dataDir = join(dir, 'c');
  const first = await loadOrCreateTlsMaterial({ dataDir, hostname: 'one.example' });
  const again = await loadOrCreateTlsMaterial({ dataDir, hostname: 'one.example' });
  assert.equal(again.fingerprint256, first.fingerprint256);
  assert.equal(again.key, first.key);

  const renamed = await loadOrCreateTlsMaterial({ dataDir, hostname: 'two.example' });
  assert.notEqual(renamed.fingerprint256, first.fingerprint256);
  assert.equal(new X509Certificate(renamed.cert).subjectAltName, 'DNS:two.example');

  await writeFile(join(dataDir, 'tls', 'self-signed.cert.pem'), 'garbage');
  const repaired = await loadOrCreateTlsMaterial({ dataDir, hostname: 'two.example' });
  assert.notEqual(repaired.fingerprint256, renamed.fingerprint256);
  assert.doesNotThrow(() => new X509Certificate(repaired.cert));

  // A key that does not match the stored certificate is not reused either.
  const other = await loadOrCreateTlsMaterial({ dataDir: join(dir, 'c2'), hostname: 'two.example' });
  await writeFile(join(dataDir, 'tls', 'self-signed.key.pem'), other.key);
  const rematched = await loadOrCreateTlsMaterial({ dataDir, hostname: 'two.example' });
  assert.equal(new X509Certificate(rematched.cert).checkPrivateKey(createPrivateKey(rematched.key)), true);
});

test('operator files are read and checked', async () => {
  const made = await loadOrCreateTlsMaterial({ dataDir: join(dir, 'd'), hostname: 'files.example' });
  const certFile = join(dir, 'cert.pem');
  const keyFile = join(dir, 'key.pem');
  await writeFile(certFile, made.cert);
  await writeFile(keyFile, made.key);
  const loaded = await loadOrCreateTlsMaterial({
    dataDir: join(dir, 'unused'),
    hostname: 'x.example',
    certFile,
    keyFile,
  });
  assert.deepEqual(loaded, {
    key: made.key,
    cert: made.cert,
    selfSigned: true,
    fingerprint256: made.fingerprint256,
  });
  await assert.rejects(stat(join(dir, 'unused')), { code: 'ENOENT' }, 'nothing written when files are given');

  const notPem = join(dir, 'not.pem');
  await writeFile(notPem, 'hello');
  const brokenPem = join(dir, 'broken.pem');
  await writeFile(brokenPem, '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n');
  const otherKey = join(dir, 'other-key.pem');
  await writeFile(
    otherKey,
    (await loadOrCreateTlsMaterial({ dataDir: join(dir, 'e'), hostname: 'e.example' })).key,
  );

  const cases: [string, string, RegExp][] = [
    [
      join(dir, 'missing.pem'),
      keyFile,
      /smtp\.tls\.cert: cannot read certificate file .*missing\.pem: no such file/,
    ],
    [notPem, keyFile, /smtp\.tls\.cert: .*not\.pem is not PEM/],
    [brokenPem, keyFile, /smtp\.tls\.cert: .*broken\.pem holds no readable PEM certificate/],
    [certFile, certFile, /smtp\.tls\.key: .*cert\.pem holds no readable PEM private key/],
    [certFile, otherKey, /smtp\.tls\.key: .*other-key\.pem is not the key of the certificate in .*cert\.pem/],
  ];
  for (const [cert, key, message] of cases) {
    await assert.rejects(
      loadOrCreateTlsMaterial({ dataDir: dir, hostname: 'x.example', certFile: cert, keyFile: key }),
      (e: unknown) => e instanceof ConfigError && message.test(e.message),
      `${cert} ${key}`,
    );
  }
});
