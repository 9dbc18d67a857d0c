/**
 * The HTTP API (Fastify): status of messages and recipients, queue statistics.
 *
 * Requests are UNTRUSTED. Clients on loopback are served as is; any other client
 * must send `Authorization: Bearer <token>` whose SHA-256 matches one of
 * `http.tokens` (compared in constant time). Every error is an RFC 9457 problem
 * document. Routes live one per file under routes/; they read through the narrow
 * `ApiDeps`, never through queue or delivery internals.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import Fastify, { type FastifyInstance, type FastifyReply } from 'fastify';
import type { Spool } from '../../contracts/spool.ts';
import { registerHealth } from './routes/health.ts';
import { registerMessage } from './routes/message.ts';
import { registerStats } from './routes/stats.ts';

export interface ApiDeps {
  readonly spool: Spool;
  /** Runtime figures beyond the spool's (commit groups, delivery engine, queue). */
  readonly runtimeStats: () => Record<string, unknown>;
  /** SHA-256 hex digests of accepted bearer tokens. */
  readonly tokenHashes: readonly string[];
}

export interface Problem {
  readonly type?: string;
  readonly title: string;
  readonly status: number;
  readonly detail?: string;
}

export function sendProblem(reply: FastifyReply, problem: Problem): FastifyReply {
  return reply
    .code(problem.status)
    .header('content-type', 'application/problem+json')
    .send({ type: problem.type ?? 'about:blank', ...problem });
}

export function buildHttpApi(deps: ApiDeps): FastifyInstance {
  const app = Fastify({ logger: false, bodyLimit: 60 * 1024 * 1024 });
  const digests = deps.tokenHashes.map((h) => Buffer.from(h, 'hex'));

  app.addHook('onRequest', async (request, reply) => {
    const ip = request.ip.replace(/^::ffff:/, '');
    if (ip.startsWith('127.') || ip === '::1') return;
    const header = request.headers.authorization ?? '';
    const token = /^Bearer (\S+)$/.exec(header)?.[1];
    if (token) {
      const digest = createHash('sha256').update(token).digest();
      if (digests.some((d) => d.length === digest.length && timingSafeEqual(d, digest))) return;
    }
    return sendProblem(reply.header('www-authenticate', 'Bearer'), {
      title: 'Unauthorized',
      status: 401,
      detail: 'Clients outside loopback need a bearer token (http.tokens).',
    });
  });
  app.setNotFoundHandler((request, reply) =>
    sendProblem(reply, {
      title: 'Not Found',
      status: 404,
      detail: `No route for ${request.method} ${request.url}`,
    }),
  );
  app.setErrorHandler((error: { statusCode?: number; message: string }, _request, reply) => {
    const status =
      error.statusCode && error.statusCode >= 400 && error.statusCode < 600 ? error.statusCode : 500;
    return sendProblem(reply, {
      title: status === 500 ? 'Internal Server Error' : 'Bad Request',
      status,
      detail: status === 500 ? 'See the server log.' : error.message,
    });
  });

  registerHealth(app);
  registerStats(app, deps);
  registerMessage(app, deps);
  return app;
}
