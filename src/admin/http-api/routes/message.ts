/**
 * `GET /api/v1/messages/{id}`: envelope, header summary and every recipient's status,
 * attempts count and last reply. Ids are validated before they reach the spool.
 */
import type { FastifyInstance } from 'fastify';
import { isQueueId } from '../../../runtime/ids.ts';
import { type ApiDeps, sendProblem } from '../server.ts';

export function registerMessage(app: FastifyInstance, deps: ApiDeps): void {
  app.get<{ Params: { id: string } }>('/api/v1/messages/:id', async (request, reply) => {
    const { id } = request.params;
    if (!isQueueId(id))
      return sendProblem(reply, {
        title: 'Bad Request',
        status: 400,
        detail: 'id: expected a 26-character queue id',
      });
    const message = await deps.spool.getMessage(id);
    if (!message) return sendProblem(reply, { title: 'Not Found', status: 404, detail: `No message ${id}` });
    return {
      id: message.id,
      receivedAt: new Date(message.receivedAt).toISOString(),
      from: message.envelope.mailFrom,
      size: message.size,
      headers: message.headers,
      origin: {
        kind: message.origin.kind,
        clientIp: message.origin.clientIp,
        authUser: message.origin.authUser,
      },
      recipients: message.recipients.map((r) => ({
        address: r.address,
        status: r.status,
        attempts: r.attempts,
        nextAttemptAt:
          r.status === 'queued' || r.status === 'deferred'
            ? new Date(r.nextAttemptAt).toISOString()
            : undefined,
        lastResponse: r.lastReply,
        lastErrorCode: r.lastErrorCode,
        route: r.route,
        updatedAt: new Date(r.updatedAt).toISOString(),
      })),
    };
  });
}
