/**
 * Tests for the webhook dispatcher against a real HTTP receiver on loopback:
 * signatures recomputed here from the secret, ordering, filters, retries after 500s
 * and timeouts, notify, replay, status, and restarts that resume from the stored
 * cursor (re-sending only the request that was in flight).
 */
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import type { WebhookConfig } from '../../config/types.ts';
import { SqliteFeedbackStore } from '../store/sqlite-feedback-store.ts';
import { redactUrl, WebhookDispatcher, type WebhookDispatcherOptions, webhookId } from './dispatcher.ts';
import { EventSource, type Received, Receiver, seqs } from './receiver.testkit.ts';

const SECRET = `whsec_${Buffer.from('0123456789abcdef0123456789abcdef').toString('base64')}`;
let root: string;
let n = 0;
const cleanups: (() => Promise<void>)[] = [];
before(async () => {
  root = await mkdtemp(join(tmpdir(), 'mxpress-webhooks-'));
});
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});
after(async () => {
  await rm(root, { recursive: true, force: true });
});

async function receiver(): Promise<{ receiver: Receiver; url: string }> {
  const r = new Receiver();
  const url = await r.listen();
  cleanups.push(() => r.close());
  return { receiver: r, url };
}

async function openStore(dir = join(root, `store-${n++}`)): Promise<SqliteFeedbackStore> {
  const store = new SqliteFeedbackStore({ dataDir: dir });
  await store.open();
  cleanups.push(() => store.close());
  return store;
}

async function dispatcher(
  options: Partial<WebhookDispatcherOptions> &
    Pick<WebhookDispatcherOptions, 'webhooks' | 'store' | 'eventsSince'>,
): Promise<WebhookDispatcher> {
  const d = new WebhookDispatcher({
    retryBaseMs: 20,
    retryCapMs: 100,
    pollMs: 3_600_000,
    random: () => 1,
    ...options,
  });
  await d.start();
  cleanups.push(() => d.stop());
  return d;
}

/** Verifies a request the way a receiver would, independently of signing.ts. */
function verify(request: Received, secret: string): void {
  const id = String(request.headers['webhook-id']);
  const timestamp = String(request.headers['webhook-timestamp']);
  assert.match(timestamp, /^\d+$/);
  assert.ok(Math.abs(Number(timestamp) - Date.now() / 1000) < 60, 'timestamp is now');
  const key = Buffer.from(secret.replace(/^whsec_/, ''), 'base64');
  const expected = createHmac('sha256', key).update(`${id}.${timestamp}.${request.body}`).digest('base64');
  assert.equal(request.headers['webhook-signature'], `v1,${expected}`);
}

describe('WebhookDispatcher', () => {
  it('POSTs every stored event in order with a valid signature, then stores the cursor', async () => {
    const { receiver: r, url } = await receiver();
    const source = new EventSource();
    source.add(5);
    const store = await openStore();
    const hook: WebhookConfig = { url: `${url}/hook?token=abc`, secret: SECRET };
    await dispatcher({ webhooks: [hook], store, eventsSince: source.eventsSince });
    const got = await r.waitFor(5);
    assert.deepEqual(seqs(got), [1, 2, 3, 4, 5]);
    for (const request of got) verify(request, SECRET);
    assert.equal(got[0]!.url, '/hook?token=abc');
    assert.equal(got[0]!.headers['content-type'], 'application/json');
    assert.deepEqual(JSON.parse(got[0]!.body), {
      type: 'delivered',
      timestamp: new Date(source.events[0]!.at).toISOString(),
      data: source.events[0],
    });
    const id = webhookId(hook.url);
    await waitUntil(async () => (await store.getCursor(id))?.lastSeq === 5);
  });

  it('keys a plain (non-whsec_) secret with its UTF-8 bytes', async () => {
    const { receiver: r, url } = await receiver();
    const source = new EventSource();
    source.add(1);
    const secret = 'a plain secret of some length';
    await dispatcher({
      webhooks: [{ url, secret }],
      store: await openStore(),
      eventsSince: source.eventsSince,
    });
    const [request] = await r.waitFor(1);
    const expected = createHmac('sha256', Buffer.from(secret, 'utf8'))
      .update(`${request!.headers['webhook-id']}.${request!.headers['webhook-timestamp']}.${request!.body}`)
      .digest('base64');
    assert.equal(request!.headers['webhook-signature'], `v1,${expected}`);
  });

  it('sends only the filtered types but moves the cursor past the others', async () => {
    const { receiver: r, url } = await receiver();
    const source = new EventSource();
    source.add(2, 'delivered');
    source.add(1, 'expired');
    source.add(2, 'delivered');
    const store = await openStore();
    await dispatcher({
      webhooks: [{ url, secret: SECRET, events: ['expired'] }],
      store,
      eventsSince: source.eventsSince,
    });
    assert.deepEqual(seqs(await r.waitFor(1)), [3]);
    await waitUntil(async () => (await store.getCursor(webhookId(url)))?.lastSeq === 5);
    assert.equal(r.requests.length, 1);
  });

  it('retries the same event after 500s with backoff, keeping order, and notify() wakes it when idle', async () => {
    const { receiver: r, url } = await receiver();
    r.answer = (_req, i) => (i < 2 ? 500 : 200);
    const source = new EventSource();
    source.add(2);
    const store = await openStore();
    const d = await dispatcher({
      webhooks: [{ url, secret: SECRET }],
      store,
      eventsSince: source.eventsSince,
    });
    const got = await r.waitFor(4);
    assert.deepEqual(seqs(got), [1, 1, 1, 2], 'event 2 waits until event 1 got its 2xx');
    assert.equal(got[0]!.headers['webhook-id'], got[2]!.headers['webhook-id']);
    const [status] = await d.status();
    assert.equal(status?.failures, 0);
    assert.equal(status?.lastError, undefined);

    source.add(1);
    d.notify();
    assert.deepEqual(seqs(await r.waitFor(5)).slice(4), [3], 'woken at once (the poll is an hour)');
  });

  it('records failures (HTTP status, timeout) in the store and the status', async () => {
    const { receiver: r, url } = await receiver();
    r.answer = (_req, i) => (i === 0 ? 503 : 'hang');
    const source = new EventSource();
    source.add(3);
    const store = await openStore();
    const d = await dispatcher({
      webhooks: [{ url: `http://user:pw@127.0.0.1:${new URL(url).port}/x?k=secret`, secret: SECRET }],
      store,
      eventsSince: source.eventsSince,
      timeoutMs: 150,
      retryBaseMs: 10_000,
      retryCapMs: 60_000,
      random: () => 0,
    });
    const [first] = await r.waitFor(1);
    assert.equal(first?.headers.authorization, `Basic ${Buffer.from('user:pw').toString('base64')}`);
    assert.equal(first?.url, '/x?k=secret');
    const id = d.ids[0]!;
    await waitUntil(async () => (await store.getCursor(id))?.attempts === 1);
    const stored = await store.getCursor(id);
    assert.equal(stored?.lastError, 'HTTP 503');
    assert.equal(stored?.lastSeq, 0);
    const [status] = await d.status();
    assert.equal(status?.url, `http://127.0.0.1:${new URL(url).port}/x?...`);
    assert.equal(status?.failures, 1);
    assert.equal(status?.lag, 3);
    assert.equal(status?.lagCapped, false);
    assert.equal(status?.oldestPendingAt, new Date(source.events[0]!.at).toISOString());
    assert.ok(status?.nextAttemptAt, 'a retry is scheduled');
    const wait = Date.parse(status.nextAttemptAt) - Date.now();
    assert.ok(wait > 3000 && wait <= 5000, `half the 10 s base with random 0 (${wait} ms)`);

    // Replay clears the backoff; the next attempt hangs and times out.
    await d.replaySince(id, 1);
    await r.waitFor(2);
    await waitUntil(async () => (await store.getCursor(id))?.attempts === 1);
    assert.equal((await store.getCursor(id))?.lastError, 'no response within 150 ms');
  });

  it('skips past events purged before a failing receiver took them, and says so', async () => {
    const { receiver: r, url } = await receiver();
    r.answer = () => 500;
    const source = new EventSource();
    source.add(5);
    const store = await openStore();
    const logs: string[] = [];
    const d = await dispatcher({
      webhooks: [{ url, secret: SECRET }],
      store,
      eventsSince: source.eventsSince,
      log: (level, message, fields) => logs.push(`${level} ${message} ${JSON.stringify(fields)}`),
    });
    await r.waitFor(2);
    // The purge deleted events 1-3 (held too long) and tells the dispatcher.
    source.events.splice(0, 3);
    await d.skipPurged(3);
    r.answer = () => 200;
    const id = webhookId(url);
    await waitUntil(async () => (await store.getCursor(id))?.lastSeq === 5);
    assert.deepEqual([...new Set(seqs(r.requests))], [1, 4, 5], 'events 2 and 3 were never sent');
    const [status] = await d.status();
    assert.equal(status?.cursor, 5);
    assert.equal(status?.skipped?.events, 3);
    assert.equal(status?.skipped?.throughSeq, 3);
    assert.ok(
      logs.some((l) => /^warn webhook events purged .*"fromSeq":1,"throughSeq":3/.test(l)),
      logs.join('\n'),
    );
    await d.skipPurged(2);
    assert.equal((await d.status())[0]?.skipped?.events, 3, 'a webhook past the purge skips nothing');
  });

  it('replaySince re-sends from the given seq', async () => {
    const { receiver: r, url } = await receiver();
    const source = new EventSource();
    source.add(4);
    const store = await openStore();
    const d = await dispatcher({
      webhooks: [{ url, secret: SECRET }],
      store,
      eventsSince: source.eventsSince,
    });
    await r.waitFor(4);
    const cursor = await d.replaySince(webhookId(url), 2);
    assert.equal(cursor.lastSeq, 1);
    assert.deepEqual(seqs(await r.waitFor(7)), [1, 2, 3, 4, 2, 3, 4]);
    await assert.rejects(d.replaySince('wh_unknown', 1), /no webhook wh_unknown/);
  });

  it('resumes from the stored cursor after a restart: nothing lost, only the in-flight one again', async () => {
    const { receiver: r, url } = await receiver();
    r.answer = (_req, i) => (i === 2 ? 'hang' : 204);
    const source = new EventSource();
    source.add(3);
    const dir = join(root, 'restart');
    const first = new SqliteFeedbackStore({ dataDir: dir });
    await first.open();
    const d1 = new WebhookDispatcher({
      webhooks: [{ url, secret: SECRET }],
      store: first,
      eventsSince: source.eventsSince,
    });
    await d1.start();
    await r.waitFor(3); // the third is in flight, never answered
    await d1.stop();
    await first.close();
    assert.equal((await reopenCursor(dir, webhookId(url)))?.lastSeq, 2);

    source.add(2);
    const store = await openStore(dir);
    await dispatcher({ webhooks: [{ url, secret: SECRET }], store, eventsSince: source.eventsSince });
    assert.deepEqual(seqs(await r.waitFor(6)), [1, 2, 3, 3, 4, 5]);
    await waitUntil(async () => (await store.getCursor(webhookId(url)))?.lastSeq === 5);
  });

  it('keeps webhooks independent: a failing one does not hold up another', async () => {
    const bad = await receiver();
    const good = await receiver();
    bad.receiver.answer = () => 500;
    const source = new EventSource();
    source.add(3);
    await dispatcher({
      webhooks: [
        { url: bad.url, secret: SECRET },
        { url: good.url, secret: SECRET },
      ],
      store: await openStore(),
      eventsSince: source.eventsSince,
      retryBaseMs: 60_000,
      retryCapMs: 60_000,
    });
    assert.deepEqual(seqs(await good.receiver.waitFor(3)), [1, 2, 3]);
    assert.deepEqual(seqs(bad.receiver.requests), [1]);
  });
});

describe('webhook ids and URLs', () => {
  it('derives a stable id per URL and redacts credentials and queries', () => {
    assert.equal(webhookId('https://a.example/x'), webhookId('https://a.example/x'));
    assert.notEqual(webhookId('https://a.example/x'), webhookId('https://a.example/y'));
    assert.match(webhookId('https://a.example/x'), /^wh_[0-9a-f]{12}$/);
    assert.equal(redactUrl('https://u:p@a.example:8443/p/q?token=1'), 'https://a.example:8443/p/q?...');
  });

  it('numbers repeated URLs', () => {
    const d = new WebhookDispatcher({
      webhooks: [
        { url: 'http://127.0.0.1:1/a', secret: SECRET },
        { url: 'http://127.0.0.1:1/a', secret: SECRET, events: ['bounced'] },
      ],
      store: new SqliteFeedbackStore({ dataDir: join(root, 'unused') }),
      eventsSince: async () => [],
    });
    assert.deepEqual(d.ids, [webhookId('http://127.0.0.1:1/a'), `${webhookId('http://127.0.0.1:1/a')}-2`]);
  });
});

async function reopenCursor(dir: string, id: string) {
  const store = new SqliteFeedbackStore({ dataDir: dir });
  await store.open();
  try {
    return await store.getCursor(id);
  } finally {
    await store.close();
  }
}

/** Polls a condition on stored state (written asynchronously) for up to 5 s. */
async function waitUntil(condition: () => Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
