/**
 * Child process: the test harness's DNS server with the benchmark's zone, so
 * answering MX queries never competes with the load generator's event loop.
 *
 * Started with fork() by bench/children.ts: argv is `<domains>`. Serves
 *   d1.test..dN.test  MX 10 mx.dK.test, each A 127.0.0.2 (the healthy sink)
 *   defer.test        MX 10 mx.defer.test, A 127.0.0.3 (the sink answering 451 to RCPT)
 * and nothing else (NXDOMAIN). Sends `{ type: 'ready', address }` over IPC once
 * bound on 127.0.0.1, and exits when the parent disconnects or on SIGTERM.
 * Queries are from mxpress on loopback; the harness server parses them defensively.
 */
import { startDnsServer, type Zone } from '../test/harness/dns-server.ts';

export function benchZone(domains: number): Zone {
  const zone: Zone = {};
  for (let i = 1; i <= domains; i++) {
    zone[`d${i}.test`] = { mx: [{ preference: 10, exchange: `mx.d${i}.test` }] };
    zone[`mx.d${i}.test`] = { a: ['127.0.0.2'] };
  }
  zone['defer.test'] = { mx: [{ preference: 10, exchange: 'mx.defer.test' }] };
  zone['mx.defer.test'] = { a: ['127.0.0.3'] };
  return zone;
}

if (process.send !== undefined) {
  const domains = Math.min(1000, Math.max(1, Number(process.argv[2] ?? 20) || 20));
  const dns = await startDnsServer({ host: '127.0.0.1', zone: benchZone(domains), defaultTtl: 3600 });
  const stop = (): void => {
    dns.close().finally(() => process.exit(0));
  };
  process.on('disconnect', stop);
  process.on('SIGTERM', stop);
  // The harness records every query; the benchmark does not need them, and they must not pile up.
  setInterval(() => dns.queries.splice(0), 1000).unref();
  process.send({ type: 'ready', address: dns.address });
}
