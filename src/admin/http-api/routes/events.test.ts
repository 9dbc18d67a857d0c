/**
 * `GET /api/v1/events` over real HTTP: the SSE framing (id = seq, event = type,
 * data = JSON), filters, resume from Last-Event-ID or ?since with replay of stored
 * events and no gap or duplicate at the switch to live (mail committed while the
 * client connects), heartbeats, the slow-consumer cut-off, the client limit,
 * streams ended by server shutdown, and `curl -N` as an independent client.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { connect } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { LifecycleEvent } from '../../../contracts/events.ts';
import { newQueueId } from '../../../runtime/ids.ts';
import { openSse, request, startTestApi, type TestApi } from '../api-testkit.ts';

let api: TestApi;
before(async () => {
  api = await startTestApi({ extra: { sse: { heartbeatMs: 100 } } });
});
after(async () => {
  await api.close();
});

const eventsUrl = (query = '') => `${api.base}/api/v1/events${query}`;

/** Commits a message through the acceptor (which stores and publishes its `received` event). */
function accept(to: string): Promise<string> {
  return api.accept({ from: 'a@example.test', to: [to], subject: 't' });
}

/** Stores events; the spool publishes them to the bus as it does in the runtime. */
async function storeAndPublish(events: LifecycleEvent[]): Promise<readonly LifecycleEvent[]> {
  const { events: stored } = await api.spool.update([], events);
  return stored;
}

function delivered(messageId: string, recipient: string): LifecycleEvent {
  const attempt = { at: Date.now(), durationMs: 5, route: 'direct', outcome: 'delivered' as const };
  return { type: 'delivered', seq: 0, at: Date.now(), messageId, recipient, attempt };
}

function bounced(messageId: string, recipient: string): LifecycleEvent {
  const reply = { code: 550, enhanced: '5.1.1', text: 'no such user' };
  return { type: 'bounced', seq: 0, at: Date.now(), messageId, recipient, reply };
}

async function lastSeq(): Promise<number> {
  let after = 0;
  for (;;) {
    const page = await api.spool.eventsSince(after, 1000);
    if (page.length === 0) return after;
    after = page.at(-1)!.seq;
  }
}

describe('live event stream', () => {
  it('frames each event with id (seq), event (type) and data (JSON)', async () => {
    const stream = await openSse(eventsUrl());
    try {
      const id = await accept('bob@example.test');
      const [message] = await stream.next(1);
      assert.equal(message?.event, 'received');
      const data = JSON.parse(message!.data) as LifecycleEvent;
      assert.equal(data.messageId, id);
      assert.equal(message?.id, String(data.seq));
      assert.ok(data.seq > 0);
      assert.match(stream.raw(), /^retry: 3000\n\n/);
      await stream.waitRaw(/\n: heartbeat\n\n/);
    } finally {
      stream.close();
    }
  });

  it('filters by type, message, recipient and domain', async () => {
    const byType = await openSse(eventsUrl('?types=delivered,bounced'));
    const byMessage = await openSse(eventsUrl(`?message=${newQueueId()}`));
    const byRecipient = await openSse(eventsUrl('?recipient=carol@Other.TEST'));
    const byDomain = await openSse(eventsUrl('?domain=OTHER.test&types=bounced'));
    try {
      const id = await accept('carol@other.test');
      const stored = await storeAndPublish([
        delivered(id, 'carol@other.test'),
        bounced(id, 'dan@example.test'),
      ]);
      const last = await storeAndPublish([bounced(id, 'carol@other.test')]);
      const seqs = (list: { id?: string }[]) => list.map((m) => Number(m.id));
      assert.deepEqual(seqs(await byType.next(3)), [stored[0]!.seq, stored[1]!.seq, last[0]!.seq]);
      const recipient = await byRecipient.next(3);
      assert.deepEqual(
        recipient.map((m) => m.event),
        ['received', 'delivered', 'bounced'],
      );
      assert.deepEqual(seqs(await byDomain.next(1)), [last[0]!.seq]);
      // The message filter matched nothing; the stream is alive (heartbeats) but empty.
      await byMessage.waitRaw(/: heartbeat/);
      assert.ok(!/\nevent:/.test(byMessage.raw()));
    } finally {
      for (const s of [byType, byMessage, byRecipient, byDomain]) s.close();
    }
  });

  it('replays stored events after Last-Event-ID (several pages) then goes live without a gap', async () => {
    const start = await lastSeq();
    const id = await accept('replay@example.test');
    // 1,200 stored events: more than two replay pages.
    const { events: history } = await api.spool.update(
      [],
      Array.from({ length: 1200 }, (_, i) => delivered(id, `r${i}@example.test`)),
    );
    const stream = await openSse(eventsUrl(), { 'last-event-id': String(start) });
    try {
      const first = await stream.next(1201);
      assert.equal(first[0]?.event, 'received');
      assert.deepEqual(
        first.slice(1).map((m) => Number(m.id)),
        history.map((e) => e.seq),
      );
      const live = await storeAndPublish([bounced(id, 'live@example.test')]);
      const [next] = await stream.next(1);
      assert.equal(Number(next?.id), live[0]!.seq);
    } finally {
      stream.close();
    }
  });

  it('no gap and no duplicate when mail is committed while the client connects', async () => {
    const start = await lastSeq();
    const before = await Promise.all(Array.from({ length: 30 }, (_, i) => accept(`b${i}@example.test`)));
    // Commits keep landing while the stream replays and switches to live.
    const during = Array.from({ length: 60 }, (_, i) => accept(`d${i}@example.test`));
    const stream = await openSse(eventsUrl(`?since=${start}&types=received`));
    try {
      const ids = [...before, ...(await Promise.all(during))];
      const after = await Promise.all(Array.from({ length: 10 }, (_, i) => accept(`a${i}@example.test`)));
      const messages = await stream.next(100, 20_000);
      const seqs = messages.map((m) => Number(m.id));
      assert.equal(new Set(seqs).size, 100, 'no duplicates');
      assert.ok(seqs.every((s) => s > start));
      const got = messages.map((m) => (JSON.parse(m.data) as LifecycleEvent).messageId).sort();
      assert.deepEqual(got, [...ids, ...after].sort(), 'every message exactly once');
      const stored = (await api.spool.eventsSince(start, 1000)).filter((e) => e.type === 'received');
      assert.deepEqual(
        [...seqs].sort((a, b) => a - b),
        stored.map((e) => e.seq),
        'exactly the stored seqs',
      );
    } finally {
      stream.close();
    }
  });

  it('refuses a bad Last-Event-ID, unknown types and bad filters with the field named', async () => {
    const cases: [string, Record<string, string>, string][] = [
      ['', { 'last-event-id': 'abc' }, 'Last-Event-ID'],
      ['?types=delivered,exploded', {}, 'types'],
      ['?recipient=nobody', {}, 'recipient'],
      ['?domain=bad..domain', {}, 'domain'],
      ['?message=short', {}, 'message'],
      ['?since=-1', {}, 'since'],
      ['?color=red', {}, 'color'],
    ];
    for (const [query, headers, field] of cases) {
      const reply = await request(eventsUrl(query), { headers });
      assert.equal(reply.status, 400, query);
      assert.ok(String(reply.body.detail).startsWith(`${field}:`), `${query}: ${reply.body.detail}`);
    }
  });

  it('disconnects a client that stops reading, and serves others after', async () => {
    const slow = await startTestApi({ extra: { sse: { maxBufferedBytes: 64 * 1024 } } });
    try {
      const port = new URL(slow.base).port;
      const socket = connect(Number(port), '127.0.0.1');
      let received = 0;
      const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
      const headers = new Promise<void>((resolve) =>
        socket.once('data', (chunk) => {
          received += chunk.length;
          socket.pause();
          resolve();
        }),
      );
      socket.write(`GET /api/v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n`);
      await headers;
      const recipients = Array.from({ length: 20 }, (_, i) => `recipient-${i}@slow-consumer.example.test`);
      let sent = 0;
      for (let i = 1; i <= 20_000; i++) {
        const event: LifecycleEvent = {
          type: 'received',
          seq: i,
          at: 0,
          messageId: 'X',
          from: 'a@example.test',
          recipients,
          size: 1,
          origin: { kind: 'http', clientIp: '127.0.0.1' },
        };
        sent += JSON.stringify(event).length;
        slow.bus.publish([event]);
      }
      socket.on('data', (chunk) => {
        received += chunk.length;
      });
      socket.resume();
      await Promise.race([
        closed,
        new Promise((_, reject) =>
          setTimeout(() => reject(new Error('server kept the slow client')), 10_000),
        ),
      ]);
      assert.ok(received < sent, `received ${received} of ${sent}`);
      const fresh = await openSse(`${slow.base}/api/v1/events`);
      slow.bus.publish([{ ...delivered('Y', 'z@example.test'), seq: 99_999 }]);
      assert.equal((await fresh.next(1))[0]?.id, '99999');
      fresh.close();
    } finally {
      await slow.close();
    }
  });

  it('limits concurrent clients and ends open streams when the server closes', async () => {
    const small = await startTestApi({ extra: { sse: { maxClients: 1 } } });
    const stream = await openSse(`${small.base}/api/v1/events`);
    try {
      const second = await request(`${small.base}/api/v1/events`);
      assert.equal(second.status, 503);
      assert.equal(second.headers.get('retry-after'), '10');
    } finally {
      await small.close();
    }
    await stream.ended;
  });

  it('curl -N follows the stream and resumes with Last-Event-ID', {
    skip: !existsSync('/usr/bin/curl') && 'curl not installed',
  }, async () => {
    const start = await lastSeq();
    const id = await accept('curl@example.test');
    const curl = spawn('/usr/bin/curl', [
      '-N',
      '-s',
      '--max-time',
      '20',
      '-H',
      `Last-Event-ID: ${start}`,
      eventsUrl(),
    ]);
    let out = '';
    let ended = false;
    const waiters: (() => void)[] = [];
    const wakeAll = (): void => {
      for (const wake of waiters.splice(0)) wake();
    };
    curl.stdout.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      wakeAll();
    });
    curl.on('close', () => {
      ended = true;
      wakeAll();
    });
    const waitOut = async (pattern: RegExp): Promise<void> => {
      while (!pattern.test(out)) {
        if (ended) throw new Error(`curl ended without ${pattern}: ${out}`);
        await new Promise<void>((resolve) => waiters.push(resolve));
      }
    };
    try {
      // The received event comes from the replay, the delivered one live.
      await waitOut(/event: received\n/);
      const live = await storeAndPublish([delivered(id, 'curl@example.test')]);
      await waitOut(/event: delivered\n/);
      assert.match(out, new RegExp(`id: ${start + 1}\\nevent: received\\ndata: \\{`));
      assert.match(out, new RegExp(`id: ${live[0]!.seq}\\nevent: delivered\\ndata: \\{`));
    } finally {
      curl.kill();
    }
  });
});
