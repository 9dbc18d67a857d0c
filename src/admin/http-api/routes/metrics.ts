/**
 * `GET /metrics`: Prometheus text exposition of this server's own registry
 * (feedback/metrics.ts). Behind the same access rule as the API: loopback, or a
 * bearer token (Prometheus `authorization` in its scrape config). A failing stats
 * source answers 500 as a problem document.
 */
import type { FastifyInstance } from 'fastify';
import type { Metrics } from '../../../feedback/metrics.ts';
import type { ApiDeps } from '../server.ts';

export type MetricsApi = Pick<Metrics, 'render' | 'contentType'>;

export function registerMetrics(app: FastifyInstance, deps: ApiDeps): void {
  const metrics = deps.metrics;
  if (!metrics) return;
  app.get('/metrics', async (_request, reply) => {
    const text = await metrics.render();
    return reply.header('content-type', metrics.contentType).send(text);
  });
}
