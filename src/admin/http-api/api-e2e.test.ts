/**
 * The HTTP API against a real mxpress (test/harness/delivery-lab.ts: real DNS,
 * real SMTP sinks on 127.0.0.x): messages injected over HTTP are delivered,
 * bounced and deferred for real; the detail view shows attempts, last responses,
 * classifications and explanations; the queue actions act on a deferred recipient
 * (and `cancel` reaches the live stream); listing pages and filters; stats; the
 * OpenAPI document covers the v1 routes and names none the server lacks.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type DeliveryLab, startDeliveryLab } from '../../../test/harness/delivery-lab.ts';
import { openSse, request } from './api-testkit.ts';

let lab: DeliveryLab;
let base: string;
before(async () => {
  // Long retry intervals: a deferred recipient stays put until the test acts on it.
  lab = await startDeliveryLab({
    mutate: (config) => ({
      ...config,
      delivery: { ...config.delivery, retryIntervalsMs: [3_600_000], maxQueueTimeMs: 5 * 3_600_000 },
    }),
  });
  base = `http://127.0.0.1:${lab.server.running.http!.port}`;
});
after(async () => {
  await lab.close();
});

interface Recipient {
  address: string;
  status: string;
  held: boolean;
  attemptCount: number;
  attempts: Record<string, unknown>[];
  lastResponse?: { code: number; enhanced?: string; text: string };
  nextAttemptAt?: string;
  classification?: { severity: string; category: string };
  explanation?: { title: string; cause: string; action: string };
}

async function detail(id: string): Promise<{ recipients: Recipient[] } & Record<string, unknown>> {
  const reply = await request(`${base}/api/v1/messages/${id}`);
  assert.equal(reply.status, 200, JSON.stringify(reply.body));
  return reply.body as { recipients: Recipient[] };
}

async function inject(to: string[], subject = 'api e2e'): Promise<string> {
  const reply = await request(`${base}/api/v1/messages`, {
    json: { from: 'Sender <sender@dump.test>', to, subject, text: 'Hello from the API\n' },
  });
  assert.equal(reply.status, 202, JSON.stringify(reply.body));
  return String(reply.body.id);
}

const outcome = (type: string, id: string, recipient: string) =>
  lab.waitForEvent(
    (e) => e.type === type && e.messageId === id && 'recipient' in e && e.recipient === recipient,
  );

describe('HTTP API against a running mxpress', () => {
  let mixed: string;

  it('injected mail is delivered, bounced and deferred; the detail view explains each', async () => {
    mixed = await inject(['ok@d1.test', 'nobody@hard.test', 'full@soft.test']);
    await Promise.all([
      outcome('delivered', mixed, 'ok@d1.test'),
      outcome('bounced', mixed, 'nobody@hard.test'),
      outcome('deferred', mixed, 'full@soft.test'),
    ]);
    const [sunk] = await lab.sinks.ok.waitForMessages(1);
    assert.match(sunk!.body.toString('utf8'), /\r\nSubject: api e2e\r\n[\s\S]*Hello from the API\r\n/);
    const view = await detail(mixed);
    assert.equal(view.from, 'sender@dump.test');
    const [ok, hard, soft] = view.recipients;
    assert.equal(ok?.status, 'delivered');
    assert.equal(ok?.attemptCount, 1);
    assert.equal(ok?.attempts[0]?.mxHost, 'mx.d1.test');
    assert.equal(ok?.attempts[0]?.ip, '127.0.0.2');
    assert.equal(ok?.attempts[0]?.route, 'direct');
    assert.equal((ok?.attempts[0]?.reply as { code: number } | undefined)?.code, 250);
    assert.equal(typeof ok?.attempts[0]?.durationMs, 'number');
    assert.match(String(ok?.attempts[0]?.at), /^\d{4}-\d\d-\d\dT/);
    assert.equal(ok?.classification, undefined, 'nothing to explain for a delivery');
    assert.equal(hard?.status, 'bounced');
    assert.equal(hard?.lastResponse?.code, 550);
    assert.equal(hard?.lastResponse?.enhanced, '5.1.1');
    assert.deepEqual(hard?.classification, { severity: 'hard', category: 'bad-mailbox' });
    assert.ok(hard?.explanation?.title && hard.explanation.cause && hard.explanation.action);
    assert.equal(soft?.status, 'deferred');
    assert.equal(soft?.lastResponse?.code, 452);
    assert.equal(soft?.classification?.severity, 'soft');
    assert.ok(Date.parse(String(soft?.nextAttemptAt)) > Date.now() + 30 * 60_000);
  });

  it('hold, retry, release and cancel act on the deferred recipient', async () => {
    const action = async (name: string) => {
      const reply = await request(`${base}/api/v1/messages/${mixed}/${name}`, { method: 'POST' });
      assert.equal(reply.status, 200, JSON.stringify(reply.body));
      assert.equal(reply.body.action, name);
      return reply.body.changed;
    };
    assert.equal(await action('hold'), 1);
    assert.equal((await detail(mixed)).recipients[2]?.held, true);
    assert.equal(await action('retry'), 0, 'held recipients are not retried');
    assert.equal(await action('release'), 1);
    const before = lab.events.filter((e) => e.type === 'deferred' && e.messageId === mixed).length;
    assert.equal(await action('retry'), 1);
    await lab.waitForEvent(
      () => lab.events.filter((e) => e.type === 'deferred' && e.messageId === mixed).length > before,
    );
    assert.equal((await detail(mixed)).recipients[2]?.attemptCount, 2);
    const stream = await openSse(`${base}/api/v1/events?message=${mixed}&types=cancelled`);
    try {
      assert.equal(await action('cancel'), 1);
      const [event] = await stream.next(1);
      assert.equal(event?.event, 'cancelled');
      assert.equal(JSON.parse(event!.data).recipient, 'full@soft.test');
    } finally {
      stream.close();
    }
    const view = await detail(mixed);
    assert.deepEqual(
      view.recipients.map((r) => r.status),
      ['delivered', 'bounced', 'cancelled'],
    );
    assert.equal(view.hasBody, false, 'nothing pending: the body is released');
    assert.equal(await action('cancel'), 0);
    const unknown = await request(`${base}/api/v1/messages/01AAAAAAAAAAAAAAAAAAAAAAAA/retry`, {
      method: 'POST',
    });
    assert.equal(unknown.status, 404);
    const bad = await request(`${base}/api/v1/messages/not-an-id`);
    assert.equal(bad.status, 400);
    assert.match(String(bad.body.detail), /^id: /);
  });

  it('lists newest first in pages with a cursor, and filters', async () => {
    const ids = [];
    for (let i = 0; i < 5; i++) ids.push(await inject([`list${i}@d2.test`], `list ${i}`));
    const seen: string[] = [];
    let cursor: string | undefined;
    for (let page = 0; page < 10; page++) {
      const reply = await request(
        `${base}/api/v1/messages?domain=d2.test&limit=2${cursor ? `&cursor=${cursor}` : ''}`,
      );
      assert.equal(reply.status, 200, JSON.stringify(reply.body));
      const messages = reply.body.messages as { id: string; subject?: string }[];
      assert.ok(messages.length <= 2);
      seen.push(...messages.map((m) => m.id));
      cursor = reply.body.next as string | undefined;
      if (cursor === undefined) break;
    }
    assert.deepEqual(seen, [...ids].reverse());
    const bounced = await request(`${base}/api/v1/messages?status=bounced`);
    assert.deepEqual(
      (bounced.body.messages as { id: string }[]).map((m) => m.id),
      [mixed],
    );
    const byRecipient = await request(`${base}/api/v1/messages?recipient=list3@D2.test`);
    assert.deepEqual(
      (byRecipient.body.messages as { id: string; subject: string }[]).map((m) => [m.id, m.subject]),
      [[ids[3], 'list 3']],
    );
    const bySender = await request(`${base}/api/v1/messages?sender=sender@dump.test&limit=500`);
    assert.equal((bySender.body.messages as unknown[]).length, 6);
    const future = await request(
      `${base}/api/v1/messages?since=${new Date(Date.now() + 60_000).toISOString()}`,
    );
    assert.deepEqual(future.body.messages, []);
    const past = await request(`${base}/api/v1/messages?until=2000-01-01`);
    assert.deepEqual(past.body.messages, []);
    for (const [query, field] of [
      ['cursor=bm90IGEgY3Vyc29y', 'cursor'],
      ['limit=501', 'limit'],
      ['limit=0', 'limit'],
      ['status=lost', 'status'],
      ['since=yesterday', 'since'],
      ['recipient=nobody', 'recipient'],
      ['sender=a@b@c', 'sender'],
      ['colour=blue', 'colour'],
    ]) {
      const reply = await request(`${base}/api/v1/messages?${query}`);
      assert.equal(reply.status, 400, query);
      assert.ok(String(reply.body.detail).startsWith(`${field}:`), `${query}: ${reply.body.detail}`);
    }
  });

  it('raw injection is delivered with CRLF line endings', async () => {
    const reply = await request(`${base}/api/v1/messages?from=raw@dump.test&to=raw@d3.test`, {
      body: 'Subject: raw e2e\nX-Test: 1\n\nbody line\n',
      headers: { 'content-type': 'message/rfc822' },
    });
    assert.equal(reply.status, 202, JSON.stringify(reply.body));
    await outcome('delivered', String(reply.body.id), 'raw@d3.test');
    const sunk = lab.sinks.ok.messages.find((m) => m.rcptTo.includes('raw@d3.test'));
    assert.ok(sunk);
    assert.ok(sunk.body.toString('utf8').endsWith('\r\nSubject: raw e2e\r\nX-Test: 1\r\n\r\nbody line\r\n'));
  });

  it('a message over 1 MiB (handed to the spool thread, not copied) arrives whole', async () => {
    const line = `${'0123456789'.repeat(7)}\r\n`;
    const text = `Subject: big e2e\r\n\r\n${line.repeat(Math.ceil((2 * 1024 * 1024) / line.length))}`;
    const reply = await request(`${base}/api/v1/messages?from=big@dump.test&to=big@d3.test`, {
      body: text,
      headers: { 'content-type': 'message/rfc822' },
    });
    assert.equal(reply.status, 202, JSON.stringify(reply.body));
    await outcome('delivered', String(reply.body.id), 'big@d3.test');
    const sunk = lab.sinks.ok.messages.find((m) => m.rcptTo.includes('big@d3.test'));
    assert.ok(sunk);
    assert.ok(sunk.body.length > text.length, `${sunk.body.length} bytes arrived`);
    assert.ok(sunk.body.toString('latin1').endsWith(`\r\n${text}`));
  });

  it('stats count recipients by status', async () => {
    const reply = await request(`${base}/api/v1/stats`);
    assert.equal(reply.status, 200);
    const spool = reply.body.spool as { recipientsByStatus: Record<string, number>; messages: number };
    assert.equal(spool.recipientsByStatus.bounced, 1);
    assert.equal(spool.recipientsByStatus.cancelled, 1);
    assert.ok(spool.messages >= 7);
  });

  it('a cancel during the delivery is reported in flight, and the arrival wins', async () => {
    // Every reply of the receiving server comes 300 ms late: the delivery is in flight
    // from its RCPT until the reply to its final dot.
    lab.sinks.ok.setScript({ replyDelayMs: 300 });
    try {
      const id = await inject(['late@d4.test'], 'cancelled too late');
      const deadline = Date.now() + 8000;
      while (!lab.sinks.ok.transcript().includes('RCPT TO:<late@d4.test>')) {
        assert.ok(Date.now() < deadline, 'the delivery never reached RCPT');
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      const reply = await request(`${base}/api/v1/messages/${id}/cancel`, { method: 'POST' });
      assert.equal(reply.status, 200, JSON.stringify(reply.body));
      assert.deepEqual(reply.body, { id, action: 'cancel', changed: 1, inFlight: 1 });
      await outcome('delivered', id, 'late@d4.test');
      assert.ok(lab.sinks.ok.messages.some((m) => m.rcptTo.includes('late@d4.test')));
      assert.deepEqual(
        lab.events
          .filter((e) => e.messageId === id && e.type !== 'received')
          .map((e) => [e.type, e.type === 'cancelled' ? e.inFlight : undefined]),
        [
          ['cancelled', true],
          ['delivered', undefined],
        ],
      );
      const view = await detail(id);
      assert.equal(view.recipients[0]?.status, 'delivered', 'the message arrived');
      assert.equal(view.recipients[0]?.lastResponse?.code, 250);
    } finally {
      lab.sinks.ok.setScript({});
    }
  });

  it('the OpenAPI document covers the v1 routes, and every documented route is served', async () => {
    const reply = await request(`${base}/api/v1/openapi.json`);
    assert.equal(reply.status, 200);
    assert.equal(reply.body.openapi, '3.1.0');
    const paths = reply.body.paths as Record<string, Record<string, unknown>>;
    const documented = Object.entries(paths).flatMap(([path, ops]) =>
      Object.keys(ops).map((m) => `${m} ${path}`),
    );
    for (const entry of documented) {
      const [method, path] = entry.split(' ') as [string, string];
      const probe = await fetch(`${base}${path.replace('{id}', '01AAAAAAAAAAAAAAAAAAAAAAAA')}`, {
        method: method.toUpperCase(),
        headers: method === 'post' ? { 'content-type': 'application/json' } : {},
        ...(method === 'post' ? { body: '{}' } : {}),
        signal: AbortSignal.timeout(5000),
      });
      if (probe.headers.get('content-type')?.startsWith('text/event-stream')) {
        // The live stream never ends: its headers are proof enough.
        await probe.body?.cancel();
        continue;
      }
      const body = await probe.text();
      assert.ok(!body.includes('No route for'), `${entry} is documented but not served`);
    }
    for (const expected of [
      'get /api/v1/messages',
      'post /api/v1/messages',
      'get /api/v1/messages/{id}',
      'post /api/v1/messages/{id}/retry',
      'post /api/v1/messages/{id}/cancel',
      'post /api/v1/messages/{id}/hold',
      'post /api/v1/messages/{id}/release',
      'get /api/v1/stats',
      'get /api/v1/events',
      'get /api/v1/openapi.json',
      'get /api/v1/tls-reports',
      'get /api/v1/suppressions',
      'get /api/v1/webhooks',
    ]) {
      assert.ok(documented.includes(expected), `${expected} is not documented`);
    }
  });
});
