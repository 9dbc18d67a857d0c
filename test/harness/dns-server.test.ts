/** The test DNS server, queried with raw UDP and TCP sockets and our wire codec (not our resolver). */
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import { connect } from 'node:net';
import { after, before, test } from 'node:test';
import { type DnsMessage, decodeMessage, RCODE, RR_TYPE } from '../../src/delivery/dns/wire.ts';
import { encodeQuery } from '../../src/delivery/dns/wire-encode.ts';
import { type DnsServer, startDnsServer } from './dns-server.ts';

let server: DnsServer;

before(async () => {
  server = await startDnsServer({
    zone: {
      'example.test': {
        mx: [{ preference: 10, exchange: 'mx.example.test' }],
        txt: [['v=spf1 ', '-all']],
        ttl: 42,
      },
      'mx.example.test': { a: ['127.0.0.2'], aaaa: ['::1'] },
      'alias.example.test': { cname: 'mx.example.test' },
      'big.example.test': { txt: Array.from({ length: 20 }, (_, i) => [`${i}:${'x'.repeat(200)}`]) },
      'tc.example.test': { a: ['127.0.0.3'], truncateUdp: true },
      'fail.example.test': { rcode: 'SERVFAIL' },
      'drop.example.test': { drop: true },
    },
  });
});

after(() => server.close());

async function udpQuery(name: string, type: number, timeoutMs = 1000): Promise<DnsMessage | undefined> {
  const socket = createSocket('udp4');
  try {
    socket.connect(server.port, server.host);
    await once(socket, 'connect');
    socket.send(encodeQuery({ id: 4242, name, type }));
    const [msg] = (await once(socket, 'message', { signal: AbortSignal.timeout(timeoutMs) })) as [Buffer];
    const result = decodeMessage(msg);
    assert.ok(result.ok);
    assert.equal(result.message.id, 4242);
    return result.message;
  } catch (error) {
    if ((error as Error).name === 'AbortError') return undefined;
    throw error;
  } finally {
    socket.close();
  }
}

async function tcpQuery(name: string, type: number): Promise<DnsMessage> {
  const socket = connect(server.port, server.host);
  try {
    await once(socket, 'connect');
    const query = encodeQuery({ id: 7, name, type });
    const prefix = Buffer.alloc(2);
    prefix.writeUInt16BE(query.length);
    socket.write(Buffer.concat([prefix, query]));
    let buffered = Buffer.alloc(0);
    const signal = AbortSignal.timeout(1000);
    while (buffered.length < 2 || buffered.length < 2 + buffered.readUInt16BE(0)) {
      const [chunk] = (await once(socket, 'data', { signal })) as [Buffer];
      buffered = Buffer.concat([buffered, chunk]);
    }
    const result = decodeMessage(buffered.subarray(2));
    assert.ok(result.ok);
    return result.message;
  } finally {
    socket.destroy();
  }
}

test('answers MX and TXT with the entry TTL', async () => {
  const mx = await udpQuery('Example.Test', RR_TYPE.MX);
  assert.equal(mx?.rcode, RCODE.NOERROR);
  assert.deepEqual(
    mx?.answers.map((r) => r.type === 'MX' && [r.preference, r.exchange, r.ttl]),
    [[10, 'mx.example.test', 42]],
  );
  const txt = await udpQuery('example.test', RR_TYPE.TXT);
  assert.deepEqual(
    txt?.answers.map((r) => r.type === 'TXT' && r.strings),
    [['v=spf1 ', '-all']],
  );
});

test('unknown name is NXDOMAIN, missing type is NODATA, both with an SOA', async () => {
  const nx = await udpQuery('nowhere.example.test', RR_TYPE.A);
  assert.equal(nx?.rcode, RCODE.NXDOMAIN);
  assert.equal(nx?.authority[0]?.type, 'SOA');
  const nodata = await udpQuery('example.test', RR_TYPE.AAAA);
  assert.equal(nodata?.rcode, RCODE.NOERROR);
  assert.equal(nodata?.answers.length, 0);
  const soa = nodata?.authority[0];
  assert.equal(soa?.type === 'SOA' && soa.minimum, 60);
});

test('CNAME chains are followed into the answer', async () => {
  const reply = await udpQuery('alias.example.test', RR_TYPE.AAAA);
  assert.deepEqual(
    reply?.answers.map((r) => r.type),
    ['CNAME', 'AAAA'],
  );
});

test('truncateUdp and oversized answers set TC over UDP; TCP has the full answer', async () => {
  const udp = await udpQuery('tc.example.test', RR_TYPE.A);
  assert.equal(udp?.tc, true);
  assert.equal(udp?.answers.length, 0);
  const tcp = await tcpQuery('tc.example.test', RR_TYPE.A);
  assert.equal(tcp.tc, false);
  assert.equal(tcp.answers[0]?.type === 'A' && tcp.answers[0].address, '127.0.0.3');
  assert.equal((await udpQuery('big.example.test', RR_TYPE.TXT))?.tc, true);
  assert.equal((await tcpQuery('big.example.test', RR_TYPE.TXT)).answers.length, 20);
});

test('forced rcode and dropped queries', async () => {
  assert.equal((await udpQuery('fail.example.test', RR_TYPE.MX))?.rcode, RCODE.SERVFAIL);
  assert.equal(await udpQuery('drop.example.test', RR_TYPE.MX, 200), undefined);
});

test('queries are recorded and the zone can be replaced', async () => {
  server.setZone({ 'new.test': { a: ['127.0.0.9'] } });
  const reply = await udpQuery('new.test', RR_TYPE.A);
  assert.equal(reply?.answers[0]?.type === 'A' && reply.answers[0].address, '127.0.0.9');
  assert.equal((await udpQuery('example.test', RR_TYPE.MX))?.rcode, RCODE.NXDOMAIN);
  assert.deepEqual(server.queries.slice(-2), [
    { name: 'new.test', type: 'A' },
    { name: 'example.test', type: 'MX' },
  ]);
  assert.match(server.address, /^127\.0\.0\.1:\d+$/);
});
