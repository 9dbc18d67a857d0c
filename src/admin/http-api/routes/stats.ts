/** `GET /api/v1/stats`: recipients by status, spool size, commit grouping, delivery figures. */
import type { FastifyInstance } from 'fastify';
import type { ApiDeps } from '../server.ts';

export function registerStats(app: FastifyInstance, deps: ApiDeps): void {
  app.get('/api/v1/stats', async () => ({ spool: await deps.spool.stats(), ...deps.runtimeStats() }));
}
