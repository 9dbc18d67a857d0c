/**
 * Tests for the feedback routes over real HTTP on 127.0.0.1: suppression list CRUD,
 * import and export, webhook status and replay (with a real receiver), and
 * `GET /metrics`. Built with the real `buildHttpApi`, a real in-process SQLite spool
 * and a real feedback store; errors must be RFC 9457 problem documents.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import type { SuppressionAddedEvent } from '../../../contracts/events.ts';
import { Metrics } from '../../../feedback/metrics.ts';
import { SqliteFeedbackStore } from '../../../feedback/store/sqlite-feedback-store.ts';
import { SuppressionList } from '../../../feedback/suppression.ts';
import { WebhookDispatcher } from '../../../feedback/webhooks/dispatcher.ts';
import { EventSource, Receiver, seqs } from '../../../feedback/webhooks/receiver.testkit.ts';
import { createSqliteSpool, type SqliteSpool } from '../../../spool/sqlite/index.ts';
import { type ApiDeps, buildHttpApi } from '../server.ts';

let root: string;
let spool: SqliteSpool;
let store: SqliteFeedbackStore;
let receiver: Receiver;
let dispatcher: WebhookDispatcher;
let app: FastifyInstance;
let base: string;
let statsFail = false;
const added: SuppressionAddedEvent[] = [];
const source = new EventSource();

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'mxpress-feedback-routes-'));
  spool = createSqliteSpool({ dataDir: join(root, 'spool'), inProcess: true });
  await spool.open();
  store = new SqliteFeedbackStore({ dataDir: root });
  await store.open();
  const suppression = new SuppressionList({
    store,
    config: { enabled: true, ttlMs: 0 },
    onAdded: (e) => {
      added.push(e);
    },
  });
  await suppression.load();
  receiver = new Receiver();
  const url = await receiver.listen();
  source.add(3);
  dispatcher = new WebhookDispatcher({
    webhooks: [{ url: `${url}/in?key=k`, secret: 'a webhook secret of enough length' }],
    store,
    eventsSince: source.eventsSince,
    pollMs: 3_600_000,
  });
  await dispatcher.start();
  const metrics = new Metrics({
    stats: async () => {
      if (statsFail) throw new Error('stats unavailable');
      return { queue: { queued: 4 }, inFlight: 1, connections: 2, suppressions: 0 };
    },
  });
  metrics.observeAcceptLatency(12);
  const deps: ApiDeps = {
    spool,
    runtimeStats: () => ({}),
    tokenHashes: [],
    suppression,
    webhooks: dispatcher,
    metrics,
  };
  app = buildHttpApi(deps);
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  assert.ok(address && typeof address === 'object');
  base = `http://127.0.0.1:${address.port}`;
});

after(async () => {
  await app?.close();
  await dispatcher?.stop();
  await receiver?.close();
  await store?.close();
  await spool?.close();
  await rm(root, { recursive: true, force: true });
});

async function call(method: string, path: string, body?: unknown, type = 'application/json') {
  const response = await fetch(`${base}${path}`, {
    method,
    signal: AbortSignal.timeout(5000),
    ...(body === undefined
      ? {}
      : { body: typeof body === 'string' ? body : JSON.stringify(body), headers: { 'content-type': type } }),
  });
  const text = await response.text();
  const json =
    /^application\/(problem\+)?json/.test(response.headers.get('content-type') ?? '') && text !== ''
      ? JSON.parse(text)
      : undefined;
  return { status: response.status, type: response.headers.get('content-type') ?? '', text, json };
}

function assertProblem(r: Awaited<ReturnType<typeof call>>, status: number, detail: RegExp): void {
  assert.equal(r.status, status, r.text);
  assert.match(r.type, /^application\/problem\+json/);
  assert.equal(r.json.status, status);
  assert.match(r.json.detail, detail);
}

describe('suppression routes', () => {
  it('adds (201, then 200), reads, pages and deletes entries; adding emits suppression-added', async () => {
    const first = await call('POST', '/api/v1/suppressions', {
      address: 'Jane@Example.com',
      reason: 'asked',
    });
    assert.equal(first.status, 201);
    assert.equal(first.json.address, 'jane@example.com');
    assert.equal(first.json.reason, 'asked');
    assert.equal((await call('POST', '/api/v1/suppressions', { address: 'jane@example.com' })).status, 200);
    assert.deepEqual(
      added.map((e) => [e.type, e.address, e.reason]),
      [['suppression-added', 'jane@example.com', 'asked']],
    );
    const expiresAt = new Date(Date.now() + 86_400_000).toISOString();
    assert.equal(
      (await call('POST', '/api/v1/suppressions', { address: 'bob@example.com', expiresAt })).status,
      201,
    );

    const one = await call('GET', `/api/v1/suppressions/${encodeURIComponent('JANE@example.com')}`);
    assert.equal(one.status, 200);
    assert.equal(one.json.reason, 'added by the operator', 'the second add replaced the reason');
    const page = await call('GET', '/api/v1/suppressions?limit=1');
    assert.deepEqual(
      page.json.items.map((e: { address: string }) => e.address),
      ['bob@example.com'],
    );
    assert.equal(page.json.items[0].expiresAt, expiresAt);
    const next = await call('GET', `/api/v1/suppressions?limit=1&after=${page.json.next}`);
    assert.deepEqual(
      next.json.items.map((e: { address: string }) => e.address),
      ['jane@example.com'],
    );
    assert.equal(next.json.next, undefined);

    assert.equal((await call('DELETE', '/api/v1/suppressions/bob@example.com')).status, 204);
    assertProblem(await call('DELETE', '/api/v1/suppressions/bob@example.com'), 404, /not suppressed/);
    assertProblem(await call('GET', '/api/v1/suppressions/bob@example.com'), 404, /not suppressed/);
  });

  it('answers problems for bad addresses, unknown fields and past expiry', async () => {
    assertProblem(await call('POST', '/api/v1/suppressions', { address: 'no at sign' }), 400, /^address: /);
    assertProblem(await call('GET', '/api/v1/suppressions/a%20b@example.com'), 400, /^address: /);
    assertProblem(
      await call('POST', '/api/v1/suppressions', { address: 'x@example.com', why: 'x' }),
      400,
      /why: unknown field/,
    );
    assertProblem(
      await call('POST', '/api/v1/suppressions', {
        address: 'x@example.com',
        expiresAt: '2001-01-01T00:00:00Z',
      }),
      400,
      /expiresAt: must be in the future/,
    );
    assertProblem(await call('GET', '/api/v1/suppressions?limit=0'), 400, /limit/);
  });

  it('imports CSV and JSON lines all-or-nothing and exports both formats', async () => {
    const ok = await call(
      'POST',
      '/api/v1/suppressions/import',
      'address,reason\nc1@example.com,x\nc2@example.com,y\n',
      'text/csv',
    );
    assert.equal(ok.status, 200, ok.text);
    assert.deepEqual(ok.json, { added: 2, updated: 0 });
    const jsonl = await call(
      'POST',
      '/api/v1/suppressions/import',
      '{"address":"c2@example.com","reason":"z"}\n{"address":"c3@example.com"}\n',
      'application/x-ndjson; charset=utf-8',
    );
    assert.deepEqual(jsonl.json, { added: 1, updated: 1 });

    const bad = await call('POST', '/api/v1/suppressions/import', 'c4@example.com\nbroken\n', 'text/csv');
    assertProblem(bad, 400, /nothing stored/);
    assert.deepEqual(bad.json.problems, ['line 2: "broken": missing domain']);
    assertProblem(await call('GET', '/api/v1/suppressions/c4@example.com'), 404, /not suppressed/);
    assertProblem(
      await call('POST', '/api/v1/suppressions/import', { address: 'x@example.com' }),
      415,
      /content-type/,
    );

    const csv = await call('GET', '/api/v1/suppressions?format=csv');
    assert.match(csv.type, /^text\/csv/);
    const csvLines = csv.text.trimEnd().split('\n');
    assert.equal(csvLines[0], 'address,reason,message_id,created_at,expires_at');
    assert.ok(csvLines.some((l) => l.startsWith('c2@example.com,z,,')));
    const nd = await call('GET', '/api/v1/suppressions?format=jsonl');
    assert.match(nd.type, /^application\/x-ndjson/);
    const addresses = nd.text
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l).address);
    for (const a of ['c1@example.com', 'c2@example.com', 'c3@example.com'])
      assert.ok(addresses.includes(a), a);
    assert.equal(addresses.length, csvLines.length - 1);
  });
});

describe('webhook routes', () => {
  it('shows status without secrets or query, and replays from a seq', async () => {
    await receiver.waitFor(3);
    const id = dispatcher.ids[0]!;
    let status = await call('GET', '/api/v1/webhooks');
    for (let i = 0; i < 100 && status.json.webhooks[0].cursor !== 3; i++) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      status = await call('GET', '/api/v1/webhooks');
    }
    assert.equal(status.status, 200);
    const [hook] = status.json.webhooks;
    assert.equal(hook.id, id);
    assert.equal(hook.cursor, 3);
    assert.equal(hook.lag, 0);
    assert.equal(hook.failures, 0);
    assert.match(hook.url, /^http:\/\/127\.0\.0\.1:\d+\/in\?\.\.\.$/);
    assert.doesNotMatch(status.text, /secret|key=k/);

    const replay = await call('POST', `/api/v1/webhooks/${id}/replay?since=2`);
    assert.equal(replay.status, 200, replay.text);
    assert.deepEqual(replay.json, { id, since: 2, cursor: 1 });
    assert.deepEqual(seqs(await receiver.waitFor(5)), [1, 2, 3, 2, 3]);

    assertProblem(await call('POST', '/api/v1/webhooks/wh_000000000000/replay?since=1'), 404, /no webhook/);
    assertProblem(await call('POST', `/api/v1/webhooks/${id}/replay`), 400, /since: is required/);
    assertProblem(await call('POST', `/api/v1/webhooks/${id}/replay?since=-1`), 400, /since/);
  });
});

describe('GET /metrics', () => {
  it('serves this instance registry with scrape-time gauges, and a problem when stats fail', async () => {
    const r = await call('GET', '/metrics');
    assert.equal(r.status, 200);
    assert.match(r.type, /^text\/plain; version=0\.0\.4/);
    assert.match(r.text, /^mxpress_queue_recipients\{status="queued"\} 4$/m);
    assert.match(r.text, /^mxpress_accept_latency_seconds_count 1$/m);
    statsFail = true;
    try {
      assertProblem(await call('GET', '/metrics'), 500, /server log/);
    } finally {
      statsFail = false;
    }
  });
});
