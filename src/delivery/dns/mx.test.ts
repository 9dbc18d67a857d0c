/** MX selection: null MX, duplicates, preference order, random tie order, the host cap. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MAX_MX_HOSTS, selectMxHosts, shuffle } from './mx.ts';
import type { DnsRecord } from './wire.ts';

function mx(preference: number, exchange: string): DnsRecord {
  return { name: 'example.test', class: 1, ttl: 60, type: 'MX', preference, exchange };
}

test('a lone root exchange is a null MX; mixed with real hosts it is ignored', () => {
  assert.deepEqual(selectMxHosts([mx(0, '')]), { kind: 'null-mx' });
  assert.deepEqual(selectMxHosts([mx(0, ''), mx(10, 'MX.example.test')]), {
    kind: 'hosts',
    hosts: [{ host: 'mx.example.test', preference: 10 }],
  });
});

test('duplicate hosts keep their best preference; order is by preference', () => {
  const selection = selectMxHosts([mx(30, 'c'), mx(20, 'b'), mx(5, 'c'), mx(10, 'a')]);
  assert.deepEqual(selection, {
    kind: 'hosts',
    hosts: [
      { host: 'c', preference: 5 },
      { host: 'a', preference: 10 },
      { host: 'b', preference: 20 },
    ],
  });
});

test('ties follow the random source; the list is capped', () => {
  const records = [mx(10, 'x'), mx(10, 'y'), mx(20, 'z')];
  const hostsWith = (value: number) => {
    const s = selectMxHosts(records, () => value);
    return s.kind === 'hosts' ? s.hosts.map((h) => h.host) : [];
  };
  assert.deepEqual(hostsWith(0), ['y', 'x', 'z']);
  assert.deepEqual(hostsWith(0.99), ['x', 'y', 'z']);
  const many = Array.from({ length: 15 }, (_, i) => mx(i, `h${i}`));
  const capped = selectMxHosts(many);
  assert.equal(capped.kind === 'hosts' && capped.hosts.length, MAX_MX_HOSTS);
  assert.equal(capped.kind === 'hosts' && capped.hosts.at(-1)?.host, 'h9');
  assert.deepEqual(shuffle([1, 2, 3], () => 0.5).sort(), [1, 2, 3]);
});
