/** `GET /api/v1/openapi.json`: the OpenAPI 3.1 description of this API (openapi-document.ts). */
import type { FastifyInstance } from 'fastify';
import { openApiDocument } from '../openapi-document.ts';

export function registerOpenApi(app: FastifyInstance): void {
  app.get('/api/v1/openapi.json', async () => openApiDocument());
}
