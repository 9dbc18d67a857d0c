/**
 * The resolver against the in-process DNS server (real UDP/TCP on loopback), and
 * against small hand-written responders where a misbehaving server is needed.
 */
import assert from 'node:assert/strict';
import { createSocket, type RemoteInfo } from 'node:dgram';
import { once } from 'node:events';
import { after, before, test } from 'node:test';
import { type DnsServer, startDnsServer, type Zone } from '../../../test/harness/dns-server.ts';
import { createResolver } from './resolver.ts';
import { type DnsRecord, decodeMessage } from './wire.ts';
import { encodeMessage } from './wire-encode.ts';

const zone: Zone = {
  'pref.test': {
    mx: [
      { preference: 20, exchange: 'b.pref.test' },
      { preference: 10, exchange: 'a.pref.test' },
      { preference: 30, exchange: 'c.pref.test' },
    ],
  },
  'a.pref.test': { a: ['127.0.0.2'], aaaa: ['::1'] },
  'b.pref.test': { a: ['127.0.0.3', '127.0.0.4'] },
  'c.pref.test': { aaaa: ['::1'] },
  'tie.test': {
    mx: [
      { preference: 10, exchange: 'one.tie.test' },
      { preference: 10, exchange: 'two.tie.test' },
    ],
  },
  'one.tie.test': { a: ['127.0.0.5'] },
  'two.tie.test': { a: ['127.0.0.6'] },
  'implicit.test': { a: ['127.0.0.7'], txt: [['no mx here']] },
  'null.test': { mx: [{ preference: 0, exchange: '' }] },
  'fail.test': { rcode: 'SERVFAIL' },
  'refused.test': { rcode: 'REFUSED' },
  'silent.test': { drop: true },
  'trunc.test': { mx: [{ preference: 5, exchange: 'big.trunc.test' }], truncateUdp: true },
  'big.trunc.test': { a: ['127.0.0.8'], truncateUdp: true },
  'alias.test': { mx: [{ preference: 1, exchange: 'mail-alias.alias.test' }] },
  'mail-alias.alias.test': { cname: 'real.alias.test' },
  'real.alias.test': { a: ['127.0.0.9'] },
  'loop1.test': { cname: 'loop2.test' },
  'loop2.test': { cname: 'loop1.test' },
  'ipmx.test': { mx: [{ preference: 1, exchange: '127.0.0.10' }] },
  'noaddr.test': { mx: [{ preference: 1, exchange: 'gone.noaddr.test' }] },
  'empty.test': { txt: [['only txt']] },
  'ttl.test': { mx: [{ preference: 1, exchange: 'host.ttl.test' }], ttl: 30 },
  'host.ttl.test': { a: ['127.0.0.11'], ttl: 100 },
  'xn--bcher-kva.test': { a: ['127.0.0.12'] },
  'txt.test': { txt: [['v=spf1 ', 'ip4:192.0.2.1 ', '-all'], ['second']] },
  '1.0.0.127.in-addr.arpa': { ptr: ['Localhost.Test'] },
};

let dns: DnsServer;

before(async () => {
  dns = await startDnsServer({ zone, negativeTtl: 60 });
});

after(() => dns.close());

function resolver(extra: { cacheMaxEntries?: number; now?: () => number; timeoutMs?: number } = {}) {
  return createResolver({ servers: [dns.address], timeoutMs: 500, cacheMaxEntries: 0, ...extra });
}

function countQueries(name: string, type?: string): number {
  return dns.queries.filter((q) => q.name === name && (type === undefined || q.type === type)).length;
}

test('MX targets come sorted by preference, IPv6 addresses first', async () => {
  const result = await resolver().resolveMx('Pref.Test.');
  assert.deepEqual(result, {
    kind: 'ok',
    targets: [
      { host: 'a.pref.test', preference: 10, addresses: ['::1', '127.0.0.2'], implicit: false },
      { host: 'b.pref.test', preference: 20, addresses: ['127.0.0.3', '127.0.0.4'], implicit: false },
      { host: 'c.pref.test', preference: 30, addresses: ['::1'], implicit: false },
    ],
  });
});

test('equal preferences are shuffled per lookup (cache off: 200 lookups see both orders)', async () => {
  const r = resolver();
  const seen = new Map<string, number>();
  for (let i = 0; i < 200; i++) {
    const result = await r.resolveMx('tie.test');
    assert.equal(result.kind, 'ok');
    if (result.kind !== 'ok') continue;
    const order = result.targets.map((t) => t.host).join(',');
    seen.set(order, (seen.get(order) ?? 0) + 1);
  }
  assert.deepEqual([...seen.keys()].sort(), ['one.tie.test,two.tie.test', 'two.tie.test,one.tie.test']);
  // Both orders well represented (p of failing by chance is ~1e-12).
  for (const count of seen.values()) assert.ok(count > 40, `skewed shuffle: ${[...seen.entries()]}`);
  assert.equal(countQueries('tie.test', 'MX') >= 200, true);
});

test('no MX records: the domain itself is the implicit MX', async () => {
  assert.deepEqual(await resolver().resolveMx('implicit.test'), {
    kind: 'ok',
    targets: [{ host: 'implicit.test', preference: 0, addresses: ['127.0.0.7'], implicit: true }],
  });
  assert.deepEqual(await resolver().resolveMx('empty.test'), {
    kind: 'no-address',
    message: 'empty.test has no MX records and no A or AAAA record',
  });
});

test('null MX, NXDOMAIN, and MX hosts without addresses', async () => {
  const r = resolver();
  assert.deepEqual(await r.resolveMx('null.test'), { kind: 'null-mx' });
  assert.deepEqual(await r.resolveMx('nowhere.test'), { kind: 'nxdomain' });
  const noaddr = await r.resolveMx('noaddr.test');
  assert.equal(noaddr.kind, 'no-address');
  assert.match(noaddr.kind === 'no-address' ? noaddr.message : '', /gone\.noaddr\.test/);
});

test('SERVFAIL and REFUSED are temporary', async () => {
  const r = resolver();
  const fail = await r.resolveMx('fail.test');
  assert.equal(fail.kind === 'temporary' && fail.code, 'DNS_SERVFAIL');
  const refused = await r.resolveAddresses('refused.test');
  assert.equal(refused.kind === 'temporary' && refused.code, 'DNS_REFUSED');
});

test('a server that drops queries times out after one retry', async () => {
  const before = countQueries('silent.test', 'MX');
  const started = performance.now();
  const result = await resolver({ timeoutMs: 150 }).resolveMx('silent.test');
  const elapsed = performance.now() - started;
  assert.equal(result.kind === 'temporary' && result.code, 'DNS_TIMEOUT');
  assert.equal(countQueries('silent.test', 'MX') - before, 2);
  assert.ok(elapsed >= 290 && elapsed < 2000, `took ${elapsed} ms`);
});

test('servers are tried in order: a silent first server, then the next one answers', async () => {
  const quiet = createSocket('udp4');
  quiet.bind(0, '127.0.0.1');
  await once(quiet, 'listening');
  let quietQueries = 0;
  quiet.on('message', () => quietQueries++);
  try {
    const r = createResolver({
      servers: [`127.0.0.1:${quiet.address().port}`, dns.address],
      timeoutMs: 100,
      cacheMaxEntries: 0,
    });
    assert.equal((await r.resolveAddresses('implicit.test')).kind, 'ok');
    assert.equal(quietQueries, 4); // A and AAAA, two tries each
  } finally {
    quiet.close();
  }
});

test('a server whose port is closed (ICMP refused) is skipped at once', async () => {
  const probe = createSocket('udp4');
  probe.bind(0, '127.0.0.1');
  await once(probe, 'listening');
  const closedPort = probe.address().port;
  probe.close();
  const r = createResolver({
    servers: [`127.0.0.1:${closedPort}`, dns.address],
    timeoutMs: 2000,
    cacheMaxEntries: 0,
  });
  const started = performance.now();
  assert.equal((await r.resolveMx('implicit.test')).kind, 'ok');
  assert.ok(performance.now() - started < 1500);
  const alone = createResolver({ servers: [`127.0.0.1:${closedPort}`], timeoutMs: 2000, cacheMaxEntries: 0 });
  const result = await alone.resolveMx('implicit.test');
  assert.equal(result.kind === 'temporary' && result.code, 'DNS_ERROR');
});

test('a truncated UDP reply is retried over TCP', async () => {
  const mxBefore = countQueries('trunc.test', 'MX');
  const result = await resolver().resolveMx('trunc.test');
  assert.deepEqual(result, {
    kind: 'ok',
    targets: [{ host: 'big.trunc.test', preference: 5, addresses: ['127.0.0.8'], implicit: false }],
  });
  // One UDP query answered with TC, then the same query over TCP.
  assert.equal(countQueries('trunc.test', 'MX') - mxBefore, 2);
});

test('CNAME chains are followed; loops end as a temporary error', async () => {
  const r = resolver();
  const alias = await r.resolveMx('alias.test');
  assert.equal(alias.kind === 'ok' && alias.targets[0]?.addresses[0], '127.0.0.9');
  const loop = await r.resolveAddresses('loop1.test');
  assert.equal(loop.kind === 'temporary' && loop.code, 'DNS_ERROR');
});

test('an MX naming an IP address is taken as that address; address literals resolve to themselves', async () => {
  const r = resolver();
  const ipmx = await r.resolveMx('ipmx.test');
  assert.equal(ipmx.kind === 'ok' && ipmx.targets[0]?.addresses.join(), '127.0.0.10');
  assert.deepEqual(await r.resolveMx('[127.0.0.1]'), {
    kind: 'ok',
    targets: [{ host: '127.0.0.1', preference: 0, addresses: ['127.0.0.1'], implicit: true }],
  });
  assert.deepEqual(await r.resolveMx('[IPv6:0::1]'), {
    kind: 'ok',
    targets: [{ host: '::1', preference: 0, addresses: ['::1'], implicit: true }],
  });
  assert.deepEqual(await r.resolveAddresses('::ffff:127.0.0.1'), {
    kind: 'ok',
    addresses: ['::ffff:7f00:1'],
  });
});

test('names: U-labels become A-labels, bad names are NXDOMAIN without a query', async () => {
  const r = resolver();
  assert.deepEqual(await r.resolveAddresses('Bücher.test'), { kind: 'ok', addresses: ['127.0.0.12'] });
  const total = dns.queries.length;
  for (const bad of [
    '',
    'a..b',
    'spa ce.test',
    `${'x'.repeat(64)}.test`,
    `${'x'.repeat(63)}.`.repeat(4).slice(0, -1),
    'a\\.b.test',
    'semi;colon.test',
  ]) {
    assert.deepEqual(await r.resolveMx(bad), { kind: 'nxdomain' }, bad);
  }
  assert.equal(dns.queries.length, total);
});

test('TXT records join their strings; PTR names are lower-cased', async () => {
  const r = resolver();
  assert.deepEqual(await r.resolveTxt('txt.test'), {
    kind: 'ok',
    records: ['v=spf1 ip4:192.0.2.1 -all', 'second'],
  });
  assert.deepEqual(await r.resolveTxt('a.pref.test'), { kind: 'nodata' });
  assert.deepEqual(await r.resolveTxt('none.test'), { kind: 'nxdomain' });
  assert.deepEqual(await r.resolvePtr('127.0.0.1'), { kind: 'ok', names: ['localhost.test'] });
  assert.deepEqual(await r.resolvePtr('127.0.0.2'), { kind: 'nxdomain' });
  assert.deepEqual(await r.resolvePtr('not-an-ip'), { kind: 'nxdomain' });
});

test('cache: hits within the TTL, refetches after it; negative answers by SOA minimum', async () => {
  let clock = 1_000_000;
  const r = resolver({ cacheMaxEntries: 100, now: () => clock });
  const mx = () => countQueries('ttl.test', 'MX');
  const host = () => countQueries('host.ttl.test', 'A');
  const [mx0, host0] = [mx(), host()];
  assert.equal((await r.resolveMx('ttl.test')).kind, 'ok');
  assert.deepEqual([mx() - mx0, host() - host0], [1, 1]);
  clock += 29_000;
  assert.equal((await r.resolveMx('ttl.test')).kind, 'ok');
  assert.deepEqual([mx() - mx0, host() - host0], [1, 1]);
  clock += 2_000; // MX (TTL 30) expired, the host's A (TTL 100) not
  assert.equal((await r.resolveMx('ttl.test')).kind, 'ok');
  assert.deepEqual([mx() - mx0, host() - host0], [2, 1]);
  clock += 100_000;
  assert.equal((await r.resolveMx('ttl.test')).kind, 'ok');
  assert.deepEqual([mx() - mx0, host() - host0], [3, 2]);

  const nx = () => countQueries('missing.ttl-test', 'TXT');
  const nx0 = nx();
  await r.resolveTxt('missing.ttl-test');
  clock += 59_000;
  assert.deepEqual(await r.resolveTxt('missing.ttl-test'), { kind: 'nxdomain' });
  assert.equal(nx() - nx0, 1);
  clock += 2_000;
  await r.resolveTxt('missing.ttl-test');
  assert.equal(nx() - nx0, 2);
});

test('concurrent identical lookups share one query', async () => {
  const r = resolver({ cacheMaxEntries: 100 });
  const before = countQueries('txt.test', 'TXT');
  const results = await Promise.all(Array.from({ length: 5 }, () => r.resolveTxt('txt.test')));
  assert.equal(new Set(results.map((x) => JSON.stringify(x))).size, 1);
  assert.equal(countQueries('txt.test', 'TXT') - before, 1);
});

/** A UDP responder whose behaviour the test writes: `respond` returns the datagrams to send. */
async function scriptedServer(respond: (query: Buffer) => Buffer[]) {
  const socket = createSocket('udp4');
  socket.bind(0, '127.0.0.1');
  await once(socket, 'listening');
  socket.on('message', (msg: Buffer, remote: RemoteInfo) => {
    for (const out of respond(msg)) socket.send(out, remote.port, remote.address);
  });
  return { address: `127.0.0.1:${socket.address().port}`, close: () => socket.close() };
}

function a(name: string, address: string): DnsRecord {
  return { name, class: 1, ttl: 60, type: 'A', address };
}

test('spoofed replies (wrong id, wrong question, garbage) are ignored; the real one is used', async () => {
  const server = await scriptedServer((msg) => {
    const decoded = decodeMessage(msg);
    assert.ok(decoded.ok);
    const q = decoded.message;
    const question = q.questions[0]!;
    if (question.type !== 1) return [encodeMessage({ id: q.id, qr: true, questions: q.questions })];
    return [
      encodeMessage({
        id: (q.id + 1) & 0xffff,
        qr: true,
        questions: q.questions,
        answers: [a(question.name, '127.6.6.6')],
      }),
      encodeMessage({
        id: q.id,
        qr: true,
        questions: [{ ...question, name: 'other.test' }],
        answers: [a('other.test', '127.6.6.7')],
      }),
      Buffer.from([msg[0]!, msg[1]!, 0x81]),
      encodeMessage({
        id: q.id,
        qr: true,
        questions: q.questions,
        answers: [a(question.name, '127.0.0.42')],
      }),
    ];
  });
  try {
    const r = createResolver({ servers: [server.address], timeoutMs: 1000, cacheMaxEntries: 0 });
    assert.deepEqual(await r.resolveAddresses('spoof.test'), { kind: 'ok', addresses: ['127.0.0.42'] });
  } finally {
    server.close();
  }
});

test('a reply holding only a CNAME makes the resolver ask for the target', async () => {
  const server = await scriptedServer((msg) => {
    const decoded = decodeMessage(msg);
    assert.ok(decoded.ok);
    const q = decoded.message;
    const question = q.questions[0]!;
    const reply = { id: q.id, qr: true, questions: q.questions };
    if (question.name === 'start.test' && question.type === 1) {
      return [
        encodeMessage({
          ...reply,
          answers: [{ ...a('start.test', '0.0.0.0'), type: 'CNAME', target: 'end.test' }],
        }),
      ];
    }
    if (question.name === 'end.test' && question.type === 1) {
      return [encodeMessage({ ...reply, answers: [a('end.test', '127.0.0.43')] })];
    }
    return [encodeMessage(reply)];
  });
  try {
    const r = createResolver({ servers: [server.address], timeoutMs: 1000, cacheMaxEntries: 0 });
    assert.deepEqual(await r.resolveAddresses('start.test'), { kind: 'ok', addresses: ['127.0.0.43'] });
  } finally {
    server.close();
  }
});
