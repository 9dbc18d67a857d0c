/**
 * The HTTP API v1 (Fastify): message status and listing, injection, queue actions,
 * statistics, the live event stream (SSE) and the OpenAPI document.
 *
 * Requests are UNTRUSTED. Clients on loopback are served as is; any other client
 * must send `Authorization: Bearer <token>` whose SHA-256 matches one of
 * `http.tokens` (compared in constant time, `isAuthorized`). Every error is an
 * RFC 9457 problem document whose `detail` names the offending field. Request
 * schemas (schemas.ts) close every object: an unknown parameter or body field is a
 * 400, never silently dropped. Routes live one per file under routes/; they reach
 * the rest of mxpress only through the narrow `ApiDeps`.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { STATUS_CODES } from 'node:http';
import Fastify, { type FastifyInstance, type FastifyReply } from 'fastify';
import { DEFAULT_LIMITS } from '../../config/defaults.ts';
import type { ClassificationRule, SmtpLimits } from '../../config/types.ts';
import type { LifecycleEvent } from '../../contracts/events.ts';
import type { Spool } from '../../contracts/spool.ts';
import type { Acceptor } from '../../ingress/accept.ts';
import { registerEvents } from './routes/events.ts';
import { registerHealth } from './routes/health.ts';
import { registerInject } from './routes/inject.ts';
import { registerMessage } from './routes/message.ts';
import { registerMessageActions } from './routes/message-actions.ts';
import { registerMessageList } from './routes/message-list.ts';
import { type MetricsApi, registerMetrics } from './routes/metrics.ts';
import { registerOpenApi } from './routes/openapi.ts';
import { registerStats } from './routes/stats.ts';
import { registerSuppression, type SuppressionApi } from './routes/suppression.ts';
import { registerTlsReports } from './routes/tls-reports.ts';
import { registerWebhooks, type WebhooksApi } from './routes/webhooks.ts';

export interface ApiDeps {
  readonly spool: Spool;
  /** Runtime figures beyond the spool's (commit groups, delivery engine, queue). */
  readonly runtimeStats: () => Record<string, unknown>;
  /** SHA-256 hex digests of accepted bearer tokens. */
  readonly tokenHashes: readonly string[];
  /** The single commit path; without it `POST /api/v1/messages` answers 503. */
  readonly acceptor?: Acceptor;
  /** Limits injected mail obeys, as SMTP's (size, recipients, line and header length, free disk). */
  readonly limits?: SmtpLimits;
  /**
   * The RCPT-time policy SMTP applies (the suppression list): a refusal for an
   * address, or undefined. Injection drops refused recipients as SMTP would.
   */
  readonly refuseRecipient?: (
    address: string,
  ) => { readonly code: number; readonly enhanced: string; readonly text: string } | undefined;
  /** Bytes free where the spool writes (a cached figure; SMTP uses the same). */
  readonly freeBytes?: () => number;
  /** Wakes the queue after `retry`/`release` so due recipients go out now. */
  readonly pokeQueue?: () => void;
  /** Live lifecycle events (the runtime's `events.subscribe`); without it the stream only replays. */
  readonly subscribe?: (listener: (event: LifecycleEvent) => void) => () => void;
  /** Configured classification overrides (`feedback.classification`), tried before the built-in rules. */
  readonly classificationRules?: readonly ClassificationRule[];
  /** Outbound TLS results per policy domain (delivery/tls-policy/tls-report.ts). */
  readonly tlsReports?: () => unknown;
  /** SSE tuning (tests): heartbeat interval, per-client buffer, client count. */
  readonly sse?: {
    readonly heartbeatMs?: number;
    readonly maxBufferedBytes?: number;
    readonly maxClients?: number;
  };
  /** The suppression list (routes/suppression.ts); without it those routes are not registered. */
  readonly suppression?: SuppressionApi;
  /** Webhook status and replay (routes/webhooks.ts); without it those routes are not registered. */
  readonly webhooks?: WebhooksApi;
  /** Prometheus metrics for `GET /metrics` (routes/metrics.ts); without it the route is not registered. */
  readonly metrics?: MetricsApi;
}

export interface Problem {
  readonly type?: string;
  readonly title?: string;
  readonly status: number;
  readonly detail?: string;
  /** Stable machine code (e.g. `SPOOL_FULL`) when one exists. */
  readonly code?: string;
}

export function sendProblem(reply: FastifyReply, problem: Problem): FastifyReply {
  return reply
    .code(problem.status)
    .header('content-type', 'application/problem+json')
    .send({
      type: 'about:blank',
      ...problem,
      title: problem.title ?? STATUS_CODES[problem.status] ?? 'Error',
    });
}

/** Shorthand for a 400 whose detail names the field. */
export function badRequest(reply: FastifyReply, field: string, detail: string): FastifyReply {
  return sendProblem(reply, { status: 400, detail: `${field}: ${detail}` });
}

function isLoopback(ip: string): boolean {
  const v4 = ip.replace(/^::ffff:/i, '');
  return v4.startsWith('127.') || ip === '::1';
}

/**
 * The access rule: loopback clients always; others only with a bearer token whose
 * SHA-256 digest is one of `digests` (constant-time comparison).
 */
export function isAuthorized(
  ip: string,
  authorization: string | undefined,
  digests: readonly Buffer[],
): boolean {
  if (isLoopback(ip)) return true;
  const token = /^Bearer ([\x21-\x7e]{1,512})$/i.exec(authorization ?? '')?.[1];
  if (token === undefined) return false;
  const digest = createHash('sha256').update(token).digest();
  let ok = false;
  // Every digest is compared, so timing does not reveal which one matched.
  for (const d of digests) if (d.length === digest.length && timingSafeEqual(d, digest)) ok = true;
  return ok;
}

export interface SchemaError {
  readonly instancePath: string;
  readonly keyword: string;
  readonly message?: string;
  readonly params: Record<string, unknown>;
}

/** `body/to/0` -> `to[0]`, `querystring/limit` -> `limit`. */
function fieldName(instancePath: string): string {
  return instancePath
    .split('/')
    .filter((p) => p !== '')
    .map((p, i) => (/^\d+$/.test(p) ? `[${p}]` : i === 0 ? p : `.${p}`))
    .join('');
}

/** One readable message naming the field, from Ajv's first error. */
export function formatSchemaError(errors: readonly SchemaError[], dataVar: string): Error {
  const first = errors[0];
  if (first === undefined) return new Error(`${dataVar}: invalid`);
  const path = fieldName(first.instancePath);
  if (first.keyword === 'additionalProperties') {
    const extra = String(first.params.additionalProperty);
    return new Error(
      `${path === '' ? extra : `${path}.${extra}`}: unknown ${dataVar === 'querystring' ? 'parameter' : 'field'}`,
    );
  }
  if (first.keyword === 'required') {
    const missing = String(first.params.missingProperty);
    return new Error(`${path === '' ? missing : `${path}.${missing}`}: is required`);
  }
  return new Error(`${path === '' ? dataVar : path}: ${first.message ?? 'is invalid'}`);
}

export function buildHttpApi(deps: ApiDeps): FastifyInstance {
  const app = Fastify({
    logger: false,
    bodyLimit: 1024 * 1024,
    ajv: { customOptions: { removeAdditional: false, coerceTypes: 'array', allErrors: false } },
    schemaErrorFormatter: (errors, dataVar) => formatSchemaError(errors as SchemaError[], dataVar),
  });
  const digests = deps.tokenHashes.map((h) => Buffer.from(h, 'hex'));

  app.addHook('onRequest', async (request, reply) => {
    if (isAuthorized(request.ip, request.headers.authorization, digests)) return;
    return sendProblem(reply.header('www-authenticate', 'Bearer'), {
      status: 401,
      detail: 'Authorization: clients outside loopback need a bearer token (http.tokens).',
    });
  });
  app.setNotFoundHandler((request, reply) =>
    sendProblem(reply, {
      status: 404,
      detail: `No route for ${request.method} ${request.url.slice(0, 200)}`,
    }),
  );
  app.setErrorHandler((error: { statusCode?: number; message: string; code?: string }, _request, reply) => {
    const status =
      error.statusCode && error.statusCode >= 400 && error.statusCode < 600 ? error.statusCode : 500;
    if (status >= 500) return sendProblem(reply, { status, detail: 'See the server log.' });
    // Parser errors (bad JSON, too large, unknown media type) are about the body or its type.
    const code = error.code ?? '';
    const field =
      code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE'
        ? 'content-type: '
        : code.startsWith('FST_ERR_CTP')
          ? 'body: '
          : '';
    return sendProblem(reply, {
      status,
      detail: `${field}${error.message}`,
      ...(code.startsWith('FST_') ? { code } : {}),
    });
  });

  const limits = deps.limits ?? DEFAULT_LIMITS;
  registerHealth(app);
  registerStats(app, deps);
  registerTlsReports(app, deps);
  registerSuppression(app, deps);
  registerWebhooks(app, deps);
  registerMetrics(app, deps);
  registerMessageList(app, deps);
  registerMessage(app, deps);
  registerInject(app, deps, limits);
  registerMessageActions(app, deps);
  registerEvents(app, deps);
  registerOpenApi(app);
  return app;
}
