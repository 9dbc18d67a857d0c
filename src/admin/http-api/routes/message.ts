/**
 * `GET /api/v1/messages/{id}`: envelope, header summary and every recipient with
 * its status, its attempts (time, MX host, IP, TLS, route, duration, reply or
 * local error code), its last response and, for failures, a classification and an
 * explanation (feedback/classify.ts, with the configured overrides). The id is
 * checked by the route schema before it reaches the spool.
 */
import type { FastifyInstance } from 'fastify';
import { classify } from '../../../feedback/classify.ts';
import { messageIdParams } from '../schemas.ts';
import { type ApiDeps, sendProblem } from '../server.ts';
import { messageDetailView } from '../views.ts';

export function registerMessage(app: FastifyInstance, deps: ApiDeps): void {
  app.get<{ Params: { id: string } }>(
    '/api/v1/messages/:id',
    { schema: { params: messageIdParams } },
    async (request, reply) => {
      const { id } = request.params;
      const [message, attempts] = await Promise.all([deps.spool.getMessage(id), deps.spool.attempts(id)]);
      if (!message) return sendProblem(reply, { status: 404, detail: `id: no message ${id}` });
      return messageDetailView(message, attempts, (input) => classify(input, deps.classificationRules));
    },
  );
}
