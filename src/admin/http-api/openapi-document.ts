/**
 * The OpenAPI 3.1 description of the HTTP API v1, built from the same schema
 * objects the routes validate with (schemas.ts).
 *
 * Pure data, built once. Keep it in step with routes/: the API tests compare the
 * documented paths with the routes the server answers.
 */
import { mxpressVersion } from '../cli/version.ts';
import {
  actionResult,
  eventsQuery,
  injectAccepted,
  injectBody,
  lifecycleEvent,
  listQuery,
  messageDetail,
  messageIdParams,
  messageList,
  problem,
  rawInjectQuery,
} from './schemas.ts';

interface QuerySchema {
  readonly properties: Readonly<Record<string, object>>;
  readonly required?: readonly string[];
}

/** OpenAPI parameter objects for each property of a query-string schema. */
function queryParameters(schema: QuerySchema): object[] {
  return Object.entries(schema.properties).map(([name, property]) => {
    const { description, ...rest } = property as Record<string, unknown>;
    return {
      name,
      in: 'query',
      required: schema.required?.includes(name) ?? false,
      ...(description !== undefined ? { description } : {}),
      schema: rest,
    };
  });
}

const idParameter = {
  name: 'id',
  in: 'path',
  required: true,
  description: messageIdParams.properties.id.description,
  schema: { type: 'string', pattern: messageIdParams.properties.id.pattern },
};

function problems(...statuses: number[]): Record<string, object> {
  const out: Record<string, object> = {};
  for (const status of statuses) {
    out[String(status)] = {
      description: 'Problem (RFC 9457)',
      content: { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } },
    };
  }
  return out;
}

function json(description: string, ref: string): object {
  return {
    description,
    content: { 'application/json': { schema: { $ref: `#/components/schemas/${ref}` } } },
  };
}

function action(name: string, summary: string): object {
  return {
    post: {
      operationId: `${name}Message`,
      summary,
      parameters: [idParameter],
      responses: { 200: json('Recipients changed', 'ActionResult'), ...problems(400, 401, 404) },
    },
  };
}

let document: object | undefined;

export function openApiDocument(): object {
  document ??= {
    openapi: '3.1.0',
    info: {
      title: 'mxpress HTTP API',
      version: mxpressVersion(),
      description:
        'Status, injection, queue actions and live events of an mxpress server. Clients outside loopback send `Authorization: Bearer <token>`.',
    },
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } },
      schemas: {
        Problem: problem,
        MessageDetail: messageDetail,
        MessageList: messageList,
        InjectRequest: injectBody,
        InjectAccepted: injectAccepted,
        ActionResult: actionResult,
        LifecycleEvent: lifecycleEvent,
      },
    },
    security: [{}, { bearer: [] }],
    paths: {
      '/api/v1/messages': {
        get: {
          operationId: 'listMessages',
          summary: 'Messages, newest first, in pages',
          parameters: queryParameters(listQuery),
          responses: { 200: json('One page', 'MessageList'), ...problems(400, 401) },
        },
        post: {
          operationId: 'injectMessage',
          summary: 'Queue a message: JSON parts, or a raw RFC 5322 message with the envelope in the query',
          parameters: queryParameters(rawInjectQuery).map((p) => ({
            ...p,
            required: false,
            description: `${(p as { description?: string }).description ?? 'Envelope'} (message/rfc822 only; required there)`,
          })),
          requestBody: {
            required: true,
            content: {
              'application/json': { schema: { $ref: '#/components/schemas/InjectRequest' } },
              'message/rfc822': { schema: { type: 'string', format: 'binary' } },
            },
          },
          responses: {
            202: json('Stored durably; delivery follows', 'InjectAccepted'),
            ...problems(400, 401, 413, 415, 422, 503),
          },
        },
      },
      '/api/v1/messages/{id}': {
        get: {
          operationId: 'getMessage',
          summary: 'One message with every recipient, its attempts, last response and explanation',
          parameters: [idParameter],
          responses: { 200: json('The message', 'MessageDetail'), ...problems(400, 401, 404) },
        },
      },
      '/api/v1/messages/{id}/retry': action('retry', 'Make pending recipients due now'),
      '/api/v1/messages/{id}/cancel': action('cancel', 'Cancel pending recipients'),
      '/api/v1/messages/{id}/hold': action('hold', 'Hold pending recipients back'),
      '/api/v1/messages/{id}/release': action('release', 'Release held recipients'),
      '/api/v1/stats': {
        get: {
          operationId: 'getStats',
          summary: 'Recipients by status, spool size, delivery and queue figures',
          responses: {
            200: { description: 'Figures', content: { 'application/json': { schema: { type: 'object' } } } },
            ...problems(401),
          },
        },
      },
      '/api/v1/tls-reports': {
        get: {
          operationId: 'getTlsReports',
          summary: 'Outbound TLS results per policy domain since start (RFC 8460 result types)',
          responses: {
            200: { description: 'Results', content: { 'application/json': { schema: { type: 'object' } } } },
            ...problems(401),
          },
        },
      },
      '/api/v1/suppressions': {
        get: {
          operationId: 'listSuppressions',
          summary: 'Suppressed addresses (paged with after/limit), or an export with format=csv|jsonl',
          responses: { 200: { description: 'Entries' }, ...problems(400, 401) },
        },
        post: {
          operationId: 'addSuppression',
          summary: 'Suppress an address: { address, reason?, expiresAt? }',
          responses: {
            200: { description: 'Updated' },
            201: { description: 'Added' },
            ...problems(400, 401),
          },
        },
      },
      '/api/v1/suppressions/import': {
        post: {
          operationId: 'importSuppressions',
          summary: 'Import addresses (text/csv or application/x-ndjson)',
          responses: { 200: { description: 'Counts of added and updated' }, ...problems(400, 401, 413, 415) },
        },
      },
      '/api/v1/webhooks': {
        get: {
          operationId: 'listWebhooks',
          summary: 'Each webhook: cursor, lag, failures, last error, events skipped after a purge',
          responses: { 200: { description: 'Status' }, ...problems(401) },
        },
      },
      '/api/v1/events': {
        get: {
          operationId: 'streamEvents',
          summary: 'Lifecycle events as Server-Sent Events (event: type, id: seq, data: JSON event)',
          parameters: [
            ...queryParameters(eventsQuery),
            {
              name: 'Last-Event-ID',
              in: 'header',
              required: false,
              description: 'Resume after this seq (replays stored events first)',
              schema: { type: 'string', pattern: '^[0-9]{1,15}$' },
            },
          ],
          responses: {
            200: {
              description: 'An endless text/event-stream; each data line is a LifecycleEvent',
              content: { 'text/event-stream': { schema: { $ref: '#/components/schemas/LifecycleEvent' } } },
            },
            ...problems(400, 401, 503),
          },
        },
      },
      '/api/v1/openapi.json': {
        get: {
          operationId: 'getOpenApi',
          summary: 'This document',
          responses: { 200: { description: 'OpenAPI 3.1', content: { 'application/json': {} } } },
        },
      },
      '/healthz': {
        get: {
          operationId: 'health',
          summary: 'Liveness',
          security: [{}],
          responses: { 200: { description: 'Serving', content: { 'application/json': {} } } },
        },
      },
    },
  };
  return document;
}
