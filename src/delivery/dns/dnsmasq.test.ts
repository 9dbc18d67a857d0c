/**
 * Our resolver against a real, independent DNS server: dnsmasq on a loopback port,
 * serving records from --mx-host / --host-record / --txt-record / --cname, and
 * NXDOMAIN for the rest of .test (--local). Skips, saying why, when dnsmasq is not
 * installed (scripts/install-test-peers.sh installs it as root).
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import { accessSync, constants } from 'node:fs';
import { createServer } from 'node:net';
import { userInfo } from 'node:os';
import { delimiter, join } from 'node:path';
import { test } from 'node:test';
import { createResolver } from './resolver.ts';

function findDnsmasq(): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/sbin', '/sbin'];
  for (const dir of dirs) {
    const candidate = join(dir, 'dnsmasq');
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** A loopback port free for both UDP and TCP at the moment of asking: dnsmasq listens on both. */
async function freePort(): Promise<number> {
  const probe = createSocket('udp4');
  probe.bind(0, '127.0.0.1');
  await once(probe, 'listening');
  const port = probe.address().port;
  const tcp = createServer();
  try {
    tcp.listen(port, '127.0.0.1');
    await once(tcp, 'listening');
    return port;
  } catch {
    return freePort();
  } finally {
    tcp.close();
    probe.close();
  }
}

/** Starts dnsmasq in the foreground and resolves once it logged that it started. */
async function startDnsmasq(binary: string, port: number): Promise<ChildProcess> {
  const child = spawn(
    binary,
    [
      '--keep-in-foreground',
      '--log-facility=-',
      '--conf-file=/dev/null',
      '--pid-file=',
      `--user=${userInfo().username}`,
      `--port=${port}`,
      '--listen-address=127.0.0.1',
      '--bind-interfaces',
      '--no-resolv',
      '--no-hosts',
      '--local=/test/',
      '--mx-host=mx.test,mail.mx.test,10',
      '--mx-host=mx.test,backup.mx.test,20',
      '--host-record=mail.mx.test,127.0.0.2,::2',
      '--host-record=backup.mx.test,127.0.0.3',
      '--host-record=implicit.test,127.0.0.4',
      '--txt-record=txt.test,v=spf1 -all',
      '--txt-record=multi.test,first ,second',
      '--cname=alias.test,mail.mx.test',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let log = '';
  const started = new Promise<void>((resolve, reject) => {
    child.stderr?.on('data', (chunk: Buffer) => {
      log += chunk.toString();
      if (/started, version/.test(log)) resolve();
    });
    child.on('exit', (code) => reject(new Error(`dnsmasq exited (${code}): ${log}`)));
    child.on('error', reject);
  });
  const timeout = AbortSignal.timeout(5000);
  await Promise.race([
    started,
    once(timeout, 'abort').then(() => {
      throw new Error(`dnsmasq did not start within 5 s: ${log}`);
    }),
  ]).catch((error: unknown) => {
    child.kill('SIGKILL');
    throw error;
  });
  return child;
}

const binary = findDnsmasq();

test('our resolver agrees with dnsmasq', {
  skip: binary === undefined ? 'dnsmasq is not installed (sudo scripts/install-test-peers.sh)' : false,
}, async () => {
  // Other tests open ephemeral ports all the time: one can take ours between the probe and
  // dnsmasq's bind, so a start refused for a busy address tries another port.
  let port = 0;
  let child: ChildProcess | undefined;
  for (let attempt = 1; child === undefined; attempt++) {
    port = await freePort();
    child = await startDnsmasq(binary!, port).catch((error: Error) => {
      if (attempt < 5 && /Address already in use/.test(error.message)) return undefined;
      throw error;
    });
  }
  try {
    const resolver = createResolver({ servers: [`127.0.0.1:${port}`], timeoutMs: 1000, cacheMaxEntries: 0 });
    assert.deepEqual(await resolver.resolveMx('mx.test'), {
      kind: 'ok',
      targets: [
        { host: 'mail.mx.test', preference: 10, addresses: ['::2', '127.0.0.2'], implicit: false },
        { host: 'backup.mx.test', preference: 20, addresses: ['127.0.0.3'], implicit: false },
      ],
    });
    assert.deepEqual(await resolver.resolveMx('implicit.test'), {
      kind: 'ok',
      targets: [{ host: 'implicit.test', preference: 0, addresses: ['127.0.0.4'], implicit: true }],
    });
    assert.deepEqual(await resolver.resolveMx('missing.test'), { kind: 'nxdomain' });
    assert.deepEqual(await resolver.resolveTxt('txt.test'), { kind: 'ok', records: ['v=spf1 -all'] });
    assert.deepEqual(await resolver.resolveTxt('multi.test'), { kind: 'ok', records: ['first second'] });
    assert.deepEqual(await resolver.resolveAddresses('alias.test'), {
      kind: 'ok',
      addresses: ['::2', '127.0.0.2'],
    });
  } finally {
    const exited = once(child, 'exit');
    child.kill('SIGTERM');
    await Promise.race([exited, once(AbortSignal.timeout(3000), 'abort').then(() => child.kill('SIGKILL'))]);
  }
});
