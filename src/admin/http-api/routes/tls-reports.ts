/**
 * `GET /api/v1/tls-reports`: outbound TLS results per policy domain (RFC 8460 result
 * types: successes, failures and their kinds) since the server started, for TLS-RPT.
 */
import type { FastifyInstance } from 'fastify';
import type { ApiDeps } from '../server.ts';

export function registerTlsReports(app: FastifyInstance, deps: ApiDeps): void {
  app.get('/api/v1/tls-reports', async () => deps.tlsReports?.() ?? { domains: [], dropped: 0 });
}
