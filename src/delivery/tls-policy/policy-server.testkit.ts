/**
 * Test-only: a local HTTPS server that serves MTA-STS policy files on loopback, as
 * `mta-sts.<domain>` would, with a fresh self-signed certificate per policy host
 * (chosen by SNI) and the list of certificates for the client to trust.
 *
 * In: a map of policy domain -> policy text (or an HTTP status to answer). Out: the
 * server's port, the CA list, and a count of requests per host. Binds 127.0.0.x only.
 */
import { generateKeyPairSync } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type Server } from 'node:https';
import { createSecureContext, type SecureContext } from 'node:tls';
import { buildSelfSignedCertificate } from '../../config/self-signed.ts';

export interface PolicyServer {
  readonly port: number;
  /** PEM certificates of every policy host, to pass as the fetcher's `ca`. */
  readonly ca: readonly string[];
  /** Requests seen, by Host header. */
  readonly requests: Map<string, number>;
  close(): Promise<void>;
}

export async function startPolicyServer(
  host: string,
  policies: Record<string, string | number>,
): Promise<PolicyServer> {
  const contexts = new Map<string, SecureContext>();
  const ca: string[] = [];
  for (const domain of Object.keys(policies)) {
    const name = `mta-sts.${domain}`;
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const cert = buildSelfSignedCertificate({ hostname: name, privateKey, publicKey });
    const key = privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
    contexts.set(name, createSecureContext({ key, cert }));
    ca.push(cert);
  }
  const requests = new Map<string, number>();
  const server: Server = createServer(
    {
      SNICallback: (servername, done) => done(null, contexts.get(servername.toLowerCase())),
    },
    (req, res) => {
      const hostHeader = (req.headers.host ?? '').toLowerCase();
      requests.set(hostHeader, (requests.get(hostHeader) ?? 0) + 1);
      const policy = policies[hostHeader.replace(/^mta-sts\./, '')];
      if (req.url !== '/.well-known/mta-sts.txt' || policy === undefined) {
        res.writeHead(404).end();
      } else if (typeof policy === 'number') {
        res.writeHead(policy).end();
      } else {
        res.writeHead(200, { 'content-type': 'text/plain' }).end(policy);
      }
    },
  );
  server.listen(0, host);
  await once(server, 'listening');
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('policy server: no address');
  return {
    port: address.port,
    ca,
    requests,
    close: async () => {
      server.closeAllConnections();
      server.close();
      await once(server, 'close');
    },
  };
}
