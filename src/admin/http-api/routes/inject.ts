/**
 * `POST /api/v1/messages`: message injection, through the same commit path and
 * limits as SMTP (ingress/accept.ts), answered `202 { id, recipients }` only after
 * the spool has synced the message. Recipients the SMTP policy would refuse at
 * RCPT (suppression list) are dropped and listed under `refused`.
 *
 * Two forms: JSON (`application/json`, ingress/http/json-input.ts builds the MIME
 * message) and raw (`message/rfc822` with `?from=&to=`, ingress/http/raw-input.ts).
 * Requests are UNTRUSTED; the body limit is set from the message size limit, and
 * the disk check matches SMTP's MAIL check. Refusals: 400/413 naming the field,
 * 415 for another media type, 503 (with Retry-After) when the spool is short of
 * space or failed (nothing was stored), 422 for a permanent ingress refusal.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { SmtpLimits } from '../../../config/types.ts';
import type { Origin } from '../../../contracts/envelope.ts';
import type { Injection, InjectionResult } from '../../../ingress/http/injection.ts';
import { type JsonInjectBody, jsonInjection } from '../../../ingress/http/json-input.ts';
import { rawInjection } from '../../../ingress/http/raw-input.ts';
import { toMxError } from '../../../protocol/errors.ts';
import { injectBody, rawInjectQuery } from '../schemas.ts';
import { type ApiDeps, formatSchemaError, type SchemaError, sendProblem } from '../server.ts';

const RETRY_AFTER_SECONDS = '60';

export function registerInject(app: FastifyInstance, deps: ApiDeps, limits: SmtpLimits): void {
  // base64 attachments and JSON escaping make the request larger than the message.
  const bodyLimit = Math.ceil(limits.maxMessageSize * 1.5) + 1024 * 1024;
  app.addContentTypeParser(
    'message/rfc822',
    { parseAs: 'buffer', bodyLimit },
    async (_request: FastifyRequest, body: Buffer) => body,
  );
  app.post<{ Body: JsonInjectBody | Buffer; Querystring: Record<string, unknown> }>(
    '/api/v1/messages',
    { bodyLimit, schema: { body: { content: { 'application/json': { schema: injectBody } } } } },
    async (request, reply) => {
      const acceptor = deps.acceptor;
      if (acceptor === undefined) {
        return sendProblem(reply, { status: 503, detail: 'injection is not available on this server' });
      }
      // Fastify parses text/plain too; only the two documented forms are injections.
      const type = (request.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
      if (type !== 'application/json' && type !== 'message/rfc822') {
        return sendProblem(reply, {
          status: 415,
          detail: `content-type: send application/json or message/rfc822, not "${type.slice(0, 100)}"`,
        });
      }
      let result: InjectionResult;
      if (Buffer.isBuffer(request.body)) {
        // The envelope is in the query for this form only, so its schema is applied here.
        const validate = request.compileValidationSchema(rawInjectQuery, 'querystring');
        const query = { ...request.query };
        if (!validate(query)) {
          const error = formatSchemaError((validate.errors ?? []) as SchemaError[], 'querystring');
          return sendProblem(reply, { status: 400, detail: error.message });
        }
        result = rawInjection(query as { from: string; to: string[] }, request.body, limits);
      } else {
        if (Object.keys(request.query).length > 0) {
          const [name] = Object.keys(request.query);
          return sendProblem(reply, {
            status: 400,
            detail: `${name}: unknown parameter (query parameters are for message/rfc822)`,
          });
        }
        result = jsonInjection(request.body as JsonInjectBody, limits, Date.now());
      }
      if (!result.ok)
        return sendProblem(reply, { status: result.status, detail: `${result.field}: ${result.detail}` });
      // The suppression list, as at RCPT: refused recipients are dropped and reported.
      const refused: { address: string; code: number; enhanced: string; text: string }[] = [];
      const recipients = result.value.envelope.recipients.filter((r) => {
        const refusal = deps.refuseRecipient?.(r.address);
        if (refusal) refused.push({ address: r.address, ...refusal });
        return refusal === undefined;
      });
      if (recipients.length === 0) {
        const first = refused[0]!;
        return sendProblem(reply, {
          status: 422,
          code: 'RECIPIENTS_REFUSED',
          detail: `to: every recipient was refused (${first.address}: ${first.code} ${first.enhanced} ${first.text})`,
        });
      }
      const injection: Injection = { ...result.value, envelope: { ...result.value.envelope, recipients } };
      const free = deps.freeBytes?.();
      if (free !== undefined && free < injection.content.length + limits.minFreeBytes) {
        return sendProblem(reply.header('retry-after', RETRY_AFTER_SECONDS), {
          status: 503,
          code: 'SPOOL_FULL',
          detail: 'spool: insufficient storage, try again later',
        });
      }
      const origin: Origin = {
        kind: 'http',
        listener: 'api',
        clientIp: request.ip.replace(/^::ffff:/i, ''),
        clientPort: request.socket.remotePort ?? 0,
        helo: '',
        protocol: 'HTTP',
      };
      try {
        const accepted = await acceptor.accept({
          envelope: injection.envelope,
          origin,
          content: [injection.content],
          tags: { deliveryMode: 'async' },
        });
        return reply
          .code(202)
          .header('location', `/api/v1/messages/${accepted.id}`)
          .send({
            id: accepted.id,
            recipients: recipients.map((r) => r.address),
            ...(refused.length > 0 ? { refused } : {}),
          });
      } catch (error) {
        const mx = toMxError(error);
        if (mx.temporary) {
          return sendProblem(reply.header('retry-after', RETRY_AFTER_SECONDS), {
            status: 503,
            code: mx.code,
            detail: `spool: ${mx.message}`,
          });
        }
        return sendProblem(reply, { status: 422, code: mx.code, detail: mx.message });
      }
    },
  );
}
