/**
 * The suppression list over HTTP:
 *   GET    /api/v1/suppressions?after=&limit=      one page (JSON), address order
 *   GET    /api/v1/suppressions?format=csv|jsonl   the whole list, streamed
 *   GET    /api/v1/suppressions/{address}          one entry
 *   POST   /api/v1/suppressions                    { address, reason?, expiresAt? } -> 201 (200 if replaced)
 *   DELETE /api/v1/suppressions/{address}          204
 *   POST   /api/v1/suppressions/import             body text/csv or application/x-ndjson
 *
 * Bodies and addresses are UNTRUSTED: schemas close and bound every field, addresses
 * are validated by feedback/suppression.ts (protocol/address.ts underneath), an
 * import is all-or-nothing (400 with `problems`, line-numbered) and at most 20 MiB.
 * Errors are RFC 9457 problems; a full list is 507.
 */
import { Readable } from 'node:stream';
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { SuppressionEntry } from '../../../contracts/feedback-store.ts';
import { SuppressionError, type SuppressionList } from '../../../feedback/suppression.ts';
import { type ApiDeps, type Problem, sendProblem } from '../server.ts';

/** What the routes use of the list. */
export type SuppressionApi = Pick<SuppressionList, 'add' | 'remove' | 'get' | 'list' | 'import' | 'export'>;

export const MAX_IMPORT_BYTES = 20 * 1024 * 1024;
const IMPORT_TYPES: Readonly<Record<string, 'csv' | 'jsonl'>> = {
  'text/csv': 'csv',
  'application/x-ndjson': 'jsonl',
  'application/jsonl': 'jsonl',
};

const addressParams = {
  type: 'object',
  additionalProperties: false,
  required: ['address'],
  properties: { address: { type: 'string', minLength: 1, maxLength: 512 } },
} as const;

const listQuery = {
  type: 'object',
  additionalProperties: false,
  properties: {
    after: { type: 'string', minLength: 1, maxLength: 512 },
    limit: { type: 'integer', minimum: 1, maximum: 1000, default: 100 },
    format: { type: 'string', enum: ['json', 'csv', 'jsonl'], default: 'json' },
  },
} as const;

const addBody = {
  type: 'object',
  additionalProperties: false,
  required: ['address'],
  properties: {
    address: { type: 'string', minLength: 1, maxLength: 512 },
    reason: { type: 'string', minLength: 1, maxLength: 1000 },
    expiresAt: { type: 'string', format: 'date-time' },
  },
} as const;

/** An entry as the API shows it (ISO times). */
export function entryView(e: SuppressionEntry): Record<string, unknown> {
  return {
    address: e.address,
    reason: e.reason,
    ...(e.messageId === undefined ? {} : { messageId: e.messageId }),
    createdAt: new Date(e.createdAt).toISOString(),
    ...(e.expiresAt === undefined ? {} : { expiresAt: new Date(e.expiresAt).toISOString() }),
  };
}

function sendError(reply: FastifyReply, error: unknown, field: string): FastifyReply {
  if (!(error instanceof SuppressionError)) throw error;
  if (error.code === 'LIST_FULL')
    return sendProblem(reply, { status: 507, detail: error.message, code: error.code });
  const problem: Problem & { problems?: readonly string[] } = {
    status: 400,
    detail: error.code === 'INVALID_ADDRESS' ? `${field}: ${error.message}` : error.message,
    code: error.code,
    ...(error.problems.length > 0 ? { problems: error.problems } : {}),
  };
  return sendProblem(reply, problem);
}

export function registerSuppression(app: FastifyInstance, deps: ApiDeps): void {
  const list = deps.suppression;
  if (!list) return;

  app.get<{ Querystring: { after?: string; limit: number; format: 'json' | 'csv' | 'jsonl' } }>(
    '/api/v1/suppressions',
    { schema: { querystring: listQuery } },
    async (request, reply) => {
      const { after, limit, format } = request.query;
      if (format !== 'json') {
        const type = format === 'csv' ? 'text/csv; charset=utf-8' : 'application/x-ndjson; charset=utf-8';
        return reply
          .header('content-type', type)
          .header('content-disposition', `attachment; filename="suppressions.${format}"`)
          .send(Readable.from(list.export(format)));
      }
      const page = await list.list({ limit, ...(after === undefined ? {} : { after }) });
      return { items: page.items.map(entryView), ...(page.next === undefined ? {} : { next: page.next }) };
    },
  );

  app.get<{ Params: { address: string } }>(
    '/api/v1/suppressions/:address',
    { schema: { params: addressParams } },
    async (request, reply) => {
      try {
        const entry = await list.get(request.params.address);
        if (!entry)
          return sendProblem(reply, {
            status: 404,
            detail: `address: ${request.params.address} is not suppressed`,
          });
        return entryView(entry);
      } catch (error) {
        return sendError(reply, error, 'address');
      }
    },
  );

  app.post<{ Body: { address: string; reason?: string; expiresAt?: string } }>(
    '/api/v1/suppressions',
    { schema: { body: addBody } },
    async (request, reply) => {
      const { address, reason, expiresAt } = request.body;
      const expires = expiresAt === undefined ? undefined : Date.parse(expiresAt);
      if (expires !== undefined && !(expires > Date.now())) {
        return sendProblem(reply, { status: 400, detail: 'expiresAt: must be in the future' });
      }
      try {
        const { entry, created } = await list.add({
          address,
          ...(reason === undefined ? {} : { reason }),
          ...(expires === undefined ? {} : { expiresAt: expires }),
        });
        return reply.code(created ? 201 : 200).send(entryView(entry));
      } catch (error) {
        return sendError(reply, error, 'address');
      }
    },
  );

  app.delete<{ Params: { address: string } }>(
    '/api/v1/suppressions/:address',
    { schema: { params: addressParams } },
    async (request, reply) => {
      try {
        if (await list.remove(request.params.address)) return reply.code(204).send();
        return sendProblem(reply, {
          status: 404,
          detail: `address: ${request.params.address} is not suppressed`,
        });
      } catch (error) {
        return sendError(reply, error, 'address');
      }
    },
  );

  // The import route parses its own media types, in a scope of its own so other routes keep theirs.
  app.register(async (scope) => {
    scope.addContentTypeParser(
      Object.keys(IMPORT_TYPES),
      { parseAs: 'string', bodyLimit: MAX_IMPORT_BYTES },
      async (_request: unknown, body: string | Buffer) => body.toString(),
    );
    scope.post<{ Body: string }>(
      '/api/v1/suppressions/import',
      { bodyLimit: MAX_IMPORT_BYTES },
      async (request, reply) => {
        const mediaType = (request.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
        const format = IMPORT_TYPES[mediaType];
        if (format === undefined || typeof request.body !== 'string') {
          return sendProblem(reply, {
            status: 415,
            detail: `content-type: send text/csv or application/x-ndjson (got ${mediaType || 'none'})`,
          });
        }
        try {
          return await list.import(request.body, format);
        } catch (error) {
          return sendError(reply, error, 'body');
        }
      },
    );
  });
}
