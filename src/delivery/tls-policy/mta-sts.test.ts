/**
 * Tests for MTA-STS discovery and caching (through the in-process DNS server and
 * our resolver) and for the HTTPS policy fetcher (against a local HTTPS server with
 * per-host test certificates): cache by id and max_age, cached policy kept over DNS
 * and fetch trouble, invalid policies, and the fetcher's refusals (status, media
 * type, size, untrusted certificate).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type DnsServer, startDnsServer, type Zone } from '../../../test/harness/dns-server.ts';
import { createResolver } from '../dns/resolver.ts';
import { httpsPolicyFetcher, MtaStsPolicies, mxAllowed } from './mta-sts.ts';
import { type PolicyServer, startPolicyServer } from './policy-server.testkit.ts';

const POLICY_IP = '127.0.0.34';
const ENFORCE = 'version: STSv1\nmode: enforce\nmx: mx.a.test\nmx: *.b.test\nmax_age: 600\n';

function zone(id: string, extra: Zone = {}): Zone {
  return {
    '_mta-sts.a.test': { txt: [['v=STSv1; id=', id]] },
    'mta-sts.a.test': { a: [POLICY_IP] },
    ...extra,
  };
}

describe('MtaStsPolicies', () => {
  let dns: DnsServer;
  let clock = 1_000_000;
  let fetches = 0;
  let served: string | Error = ENFORCE;
  let sts: MtaStsPolicies;

  before(async () => {
    dns = await startDnsServer({ zone: zone('one') });
    const resolver = createResolver({ servers: [dns.address], timeoutMs: 3000, cacheMaxEntries: 0 });
    sts = new MtaStsPolicies({
      resolver,
      now: () => clock,
      fetch: async () => {
        fetches++;
        if (served instanceof Error) throw served;
        return served;
      },
    });
  });
  after(async () => {
    await dns?.close();
  });

  test('fetches once, then serves the cache until the id changes or max_age passes', async () => {
    const first = await sts.lookup('A.test.');
    assert.equal(first.kind, 'policy');
    if (first.kind !== 'policy') return;
    assert.equal(first.cached, false);
    assert.equal(first.policy.mode, 'enforce');
    assert.deepEqual(first.policy.mx, ['mx.a.test', '*.b.test']);
    assert.equal(first.policy.expiresAt, clock + 600_000);
    assert.ok(mxAllowed(first.policy, 'mx.a.test'));
    assert.ok(mxAllowed(first.policy, 'x.b.test'));
    assert.ok(!mxAllowed(first.policy, 'y.x.b.test'), 'a wildcard covers one label only');
    assert.ok(!mxAllowed(first.policy, 'mx.c.test'));

    const again = await sts.lookup('a.test');
    assert.equal(again.kind === 'policy' && again.cached, true);
    assert.equal(fetches, 1);

    dns.setZone(zone('two'));
    const changed = await sts.lookup('a.test');
    assert.equal(changed.kind === 'policy' && changed.cached, false);
    assert.equal(fetches, 2);

    clock += 601_000;
    const expired = await sts.lookup('a.test');
    assert.equal(expired.kind === 'policy' && expired.cached, false);
    assert.equal(fetches, 3);
  });

  test('a valid cached policy survives DNS failure, a missing record and a failed fetch', async () => {
    dns.setZone(zone('two', { '_mta-sts.a.test': { rcode: 'SERVFAIL' } }));
    assert.equal((await sts.lookup('a.test')).kind, 'policy');
    dns.setZone(zone('two', { '_mta-sts.a.test': {} }));
    assert.equal((await sts.lookup('a.test')).kind, 'policy');
    served = new Error('connection refused');
    dns.setZone(zone('three'));
    const kept = await sts.lookup('a.test');
    assert.equal(kept.kind === 'policy' && kept.cached, true);
    assert.equal(kept.kind === 'policy' && kept.policy.id, 'two');
  });

  test('without a cached policy: no record is none, trouble is an error (not retried at once), a bad policy is invalid', async () => {
    served = ENFORCE;
    dns.setZone({
      '_mta-sts.n.test': { rcode: 'SERVFAIL' },
      '_mta-sts.m.test': { txt: [['v=STSv1; id=1']] },
      '_mta-sts.k.test': { txt: [['v=STSv1; id=1']] },
    });
    assert.deepEqual(await sts.lookup('none.test'), { kind: 'none' });
    assert.deepEqual(await sts.lookup('[127.0.0.1]'), { kind: 'none' });
    const dnsTrouble = await sts.lookup('n.test');
    assert.equal(dnsTrouble.kind === 'error' && dnsTrouble.reason, 'fetch');
    served = new Error('no route');
    const before = fetches;
    const fetchTrouble = await sts.lookup('m.test');
    assert.equal(fetchTrouble.kind === 'error' && fetchTrouble.reason, 'fetch');
    served = 'version: STSv1\nmode: enforce\nmax_age: 600\n';
    const invalid = await sts.lookup('k.test');
    assert.equal(invalid.kind === 'error' && invalid.reason, 'invalid', 'enforce without mx lines');
    assert.equal(fetches, before + 2);
    // A failed policy id is not fetched again for a while; after that it is.
    served = ENFORCE;
    assert.equal((await sts.lookup('m.test')).kind, 'error');
    assert.equal(fetches, before + 2);
    clock += 300_001;
    assert.equal((await sts.lookup('m.test')).kind, 'policy');
    assert.equal(fetches, before + 3);
  });
});

describe('httpsPolicyFetcher', () => {
  let dns: DnsServer;
  let server: PolicyServer;
  const hosts = ['good.test', 'missing.test', 'huge.test'];

  before(async () => {
    const z: Zone = {};
    for (const h of [...hosts, 'nohost.test']) z[`mta-sts.${h}`] = { a: [POLICY_IP] };
    delete z['mta-sts.nohost.test'];
    dns = await startDnsServer({ zone: z });
    server = await startPolicyServer(POLICY_IP, {
      'good.test': ENFORCE,
      'missing.test': 404,
      'huge.test': `${ENFORCE}${'# padding\n'.repeat(8000)}`,
    });
  });
  after(async () => {
    await Promise.all([dns?.close(), server?.close()]);
  });

  const fetcher = (ca?: readonly string[]) =>
    httpsPolicyFetcher({
      resolver: createResolver({ servers: [dns.address], timeoutMs: 3000, cacheMaxEntries: 0 }),
      port: server.port,
      timeoutMs: 10_000,
      ...(ca ? { ca } : {}),
    });

  test('fetches a policy from mta-sts.<domain> with a certificate for that name', async () => {
    assert.equal(await fetcher(server.ca)('good.test'), ENFORCE);
  });

  test('refuses an untrusted certificate, a non-200 answer, an oversized body and a host without address', async () => {
    await assert.rejects(fetcher()('good.test'), /certificate/i);
    await assert.rejects(fetcher(server.ca)('missing.test'), /HTTP 404/);
    await assert.rejects(fetcher(server.ca)('huge.test'), /larger than 65536 bytes/);
    await assert.rejects(fetcher(server.ca)('nohost.test'), /no address/);
  });
});
