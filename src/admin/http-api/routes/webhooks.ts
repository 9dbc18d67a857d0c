/**
 * Webhook status and replay:
 *   GET  /api/v1/webhooks                         each webhook: cursor, lag, failures, last error, skipped
 *   POST /api/v1/webhooks/{id}/replay?since=SEQ   re-send events with seq >= SEQ
 *
 * URLs are shown without credentials or query (they often carry tokens); secrets are
 * never shown. `id` and `since` are checked by the route schemas; an unknown id is 404.
 */
import type { FastifyInstance } from 'fastify';
import type { WebhookDispatcher } from '../../../feedback/webhooks/dispatcher.ts';
import { type ApiDeps, sendProblem } from '../server.ts';

/** What the routes use of the dispatcher. */
export type WebhooksApi = Pick<WebhookDispatcher, 'ids' | 'status' | 'replaySince'>;

const replayParams = {
  type: 'object',
  additionalProperties: false,
  required: ['id'],
  properties: { id: { type: 'string', pattern: '^wh_[0-9a-f]{12}(?:-[0-9]{1,3})?$' } },
} as const;

const replayQuery = {
  type: 'object',
  additionalProperties: false,
  required: ['since'],
  properties: { since: { type: 'integer', minimum: 0, maximum: Number.MAX_SAFE_INTEGER } },
} as const;

export function registerWebhooks(app: FastifyInstance, deps: ApiDeps): void {
  const webhooks = deps.webhooks;
  if (!webhooks) return;

  app.get('/api/v1/webhooks', async () => ({ webhooks: await webhooks.status() }));

  app.post<{ Params: { id: string }; Querystring: { since: number } }>(
    '/api/v1/webhooks/:id/replay',
    { schema: { params: replayParams, querystring: replayQuery } },
    async (request, reply) => {
      const { id } = request.params;
      if (!webhooks.ids.includes(id))
        return sendProblem(reply, { status: 404, detail: `id: no webhook ${id}` });
      const cursor = await webhooks.replaySince(id, request.query.since);
      return { id, since: request.query.since, cursor: cursor.lastSeq };
    },
  );
}
