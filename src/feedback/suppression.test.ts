/**
 * Tests for the suppression list over a real SQLite feedback store: the RCPT check
 * (case, expiry, disabled), hard-bounce additions and their events, operator edits,
 * paging, CSV/JSON-lines import and export, and the refusal text.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { BouncedEvent, Classification, SuppressionAddedEvent } from '../contracts/events.ts';
import { SqliteFeedbackStore } from './store/sqlite-feedback-store.ts';
import { refusalFor, SuppressionError, SuppressionList, type SuppressionListOptions } from './suppression.ts';

const DAY = 86_400_000;
let root: string;
let n = 0;
before(async () => {
  root = await mkdtemp(join(tmpdir(), 'mxpress-suppression-'));
});
after(async () => {
  await rm(root, { recursive: true, force: true });
});

interface Harness {
  list: SuppressionList;
  store: SqliteFeedbackStore;
  events: SuppressionAddedEvent[];
  clock: { now: number };
}

async function harness(options: Partial<SuppressionListOptions> & { dir?: string } = {}): Promise<Harness> {
  const store = new SqliteFeedbackStore({ dataDir: options.dir ?? join(root, `list-${n++}`) });
  await store.open();
  const events: SuppressionAddedEvent[] = [];
  const clock = { now: Date.parse('2025-03-01T12:00:00Z') };
  const list = new SuppressionList({
    store,
    config: { enabled: true, ttlMs: 30 * DAY },
    onAdded: (e) => {
      events.push(e);
    },
    now: () => clock.now,
    ...options,
  });
  await list.load();
  return { list, store, events, clock };
}

function bounce(
  recipient: string,
  reply: BouncedEvent['reply'],
  classification?: Classification,
): BouncedEvent {
  return {
    type: 'bounced',
    seq: 7,
    at: 1,
    messageId: '01JNQ8Z6B3K3V1W4Y5Z6A7B8C9',
    recipient,
    reply,
    ...(classification ? { classification } : {}),
  };
}

describe('SuppressionList', () => {
  it('suppresses hard bounces for ttlMs, emits one event, and answers check() case-insensitively', async () => {
    const h = await harness();
    const entry = await h.list.onBounced(
      bounce(
        'Jane.Doe@example.com',
        { code: 550, enhanced: '5.1.1', text: 'no such user' },
        {
          severity: 'hard',
          category: 'bad-mailbox',
        },
      ),
    );
    assert.ok(entry);
    assert.equal(entry.address, 'jane.doe@example.com');
    assert.equal(entry.reason, '550 5.1.1 no such user');
    assert.equal(entry.expiresAt, h.clock.now + 30 * DAY);
    assert.deepEqual(h.events, [
      {
        type: 'suppression-added',
        seq: 0,
        at: h.clock.now,
        messageId: '01JNQ8Z6B3K3V1W4Y5Z6A7B8C9',
        address: 'jane.doe@example.com',
        reason: '550 5.1.1 no such user',
        expiresAt: h.clock.now + 30 * DAY,
      },
    ]);
    assert.equal(h.list.check('JANE.DOE@example.com')?.address, 'jane.doe@example.com');
    assert.equal(h.list.check('other@example.com'), undefined);

    // A second hard bounce refreshes the entry without a second event.
    await h.list.onBounced(bounce('jane.doe@example.com', { code: 550, enhanced: '5.1.1', text: 'gone' }));
    assert.equal(h.events.length, 1);
    assert.equal(h.list.check('jane.doe@example.com')?.reason, '550 5.1.1 gone');

    h.clock.now += 30 * DAY;
    assert.equal(h.list.check('jane.doe@example.com'), undefined, 'lapsed at expiresAt');
    await h.store.close();
  });

  it('decides which bounces qualify: classification first, else 5xx with 5.1.x', async () => {
    const h = await harness();
    const cases: [string, BouncedEvent['reply'], Classification | undefined, boolean][] = [
      [
        'soft@example.com',
        { code: 550, enhanced: '5.1.1', text: 'x' },
        { severity: 'soft', category: 'c' },
        false,
      ],
      [
        'hard@example.com',
        { code: 554, enhanced: '5.7.1', text: 'x' },
        { severity: 'hard', category: 'c' },
        true,
      ],
      ['addr@example.com', { code: 550, enhanced: '5.1.10', text: 'null mx' }, undefined, true],
      ['policy@example.com', { code: 550, enhanced: '5.7.1', text: 'x' }, undefined, false],
      ['nocode@example.com', { code: 550, text: 'x' }, undefined, false],
      ['temp@example.com', { code: 450, enhanced: '4.1.1', text: 'x' }, undefined, false],
    ];
    for (const [address, reply, classification, expected] of cases) {
      const entry = await h.list.onBounced(bounce(address, reply, classification));
      assert.equal(entry !== undefined, expected, address);
      assert.equal(h.list.check(address) !== undefined, expected, address);
    }
    await h.store.close();
  });

  it('does nothing while disabled, and keeps entries for good when ttlMs is 0', async () => {
    const off = await harness({ config: { enabled: false, ttlMs: 0 } });
    await off.list.add({ address: 'x@example.com' });
    assert.equal(off.list.check('x@example.com'), undefined, 'no enforcement');
    const hard = bounce('y@example.com', { code: 550, enhanced: '5.1.1', text: 'no' });
    assert.equal(await off.list.onBounced(hard), undefined);
    assert.equal(await off.store.getSuppression('y@example.com'), undefined);
    await off.store.close();

    const forever = await harness({ config: { enabled: true, ttlMs: 0 } });
    const entry = await forever.list.onBounced(hard);
    assert.equal(entry?.expiresAt, undefined);
    forever.clock.now += 3650 * DAY;
    assert.ok(forever.list.check('y@example.com'));
    await forever.store.close();
  });

  it('adds, removes, validates and pages operator entries; a new list loads them from the store', async () => {
    const dir = join(root, 'operator');
    const h = await harness({ dir });
    const { created } = await h.list.add({ address: 'B@Example.COM', reason: 'asked to stop' });
    assert.equal(created, true);
    assert.equal(h.events[0]?.messageId, '');
    for (const l of ['a', 'c', 'd']) await h.list.add({ address: `${l}@example.com` });
    await assert.rejects(h.list.add({ address: 'not an address' }), (e: unknown) => {
      return e instanceof SuppressionError && e.code === 'INVALID_ADDRESS';
    });
    await assert.rejects(h.list.add({ address: 'x@example.com', reason: 'r'.repeat(1001) }), /at most 1000/);

    const first = await h.list.list({ limit: 3 });
    assert.deepEqual(
      first.items.map((e) => e.address),
      ['a@example.com', 'b@example.com', 'c@example.com'],
    );
    assert.equal(first.next, 'c@example.com');
    const second = await h.list.list({ after: first.next, limit: 3 });
    assert.deepEqual(
      second.items.map((e) => e.address),
      ['d@example.com'],
    );
    assert.equal(second.next, undefined);

    assert.equal(await h.list.remove('C@example.com'), true);
    assert.equal(await h.list.remove('c@example.com'), false);
    assert.equal(h.list.check('c@example.com'), undefined);
    await h.store.close();

    const reopened = await harness({ dir });
    assert.equal(reopened.list.size, 3);
    assert.equal(reopened.list.check('b@example.com')?.reason, 'asked to stop');
    await reopened.store.close();
  });

  it('refuses additions beyond maxEntries', async () => {
    const h = await harness({ maxEntries: 2 });
    await h.list.add({ address: 'a@example.com' });
    await h.list.add({ address: 'b@example.com' });
    await h.list.add({ address: 'a@example.com', reason: 'replacing is fine' });
    await assert.rejects(h.list.add({ address: 'c@example.com' }), (e: unknown) => {
      return e instanceof SuppressionError && e.code === 'LIST_FULL';
    });
    await assert.rejects(h.list.import('c@example.com\n', 'csv'), /exceed the maximum/);
    await h.store.close();
  });

  it('imports CSV with a header, quotes and line breaks, without events', async () => {
    const h = await harness();
    const csv = [
      'address,reason,expires_at',
      'one@example.com,"said ""stop"", twice",2025-06-01T00:00:00Z',
      '"two@example.com","multi',
      'line",',
      'THREE@example.com,,1767225600000',
      '',
    ].join('\r\n');
    assert.deepEqual(await h.list.import(csv, 'csv'), { added: 3, updated: 0 });
    assert.equal(h.events.length, 0);
    assert.equal(h.list.check('one@example.com')?.reason, 'said "stop", twice');
    assert.equal(h.list.check('one@example.com')?.expiresAt, Date.parse('2025-06-01T00:00:00Z'));
    assert.equal(h.list.check('two@example.com')?.reason, 'multi\r\nline');
    assert.equal(h.list.check('three@example.com')?.reason, 'imported');
    assert.equal(h.list.check('three@example.com')?.expiresAt, 1767225600000);
    await h.store.close();
  });

  it('rejects a whole import with line numbers when any line is bad', async () => {
    const h = await harness();
    const csv = 'good@example.com,ok\nbad address,x\nok2@example.com,r,yesterday\n';
    await assert.rejects(h.list.import(csv, 'csv'), (e: unknown) => {
      assert.ok(e instanceof SuppressionError);
      assert.equal(e.code, 'INVALID_INPUT');
      assert.equal(e.problems.length, 2);
      assert.match(e.problems[0]!, /^line 2: "bad address"/);
      assert.match(e.problems[1]!, /^line 3: expires_at/);
      return true;
    });
    assert.equal(await h.store.getSuppression('good@example.com'), undefined, 'nothing stored');
    const jsonl = '{"address":"a@example.com"}\n{"address":"b@example.com","expires":1}\n[1]\n{oops\n';
    await assert.rejects(h.list.import(jsonl, 'jsonl'), (e: unknown) => {
      assert.ok(e instanceof SuppressionError);
      assert.deepEqual(e.problems, [
        'line 2: unknown key(s) expires',
        'line 3: expected a JSON object',
        'line 4: not valid JSON',
      ]);
      return true;
    });
    assert.equal(h.list.size, 0);
    await h.store.close();
  });

  it('exports active entries as CSV and JSON lines that import back unchanged', async () => {
    const h = await harness();
    await h.list.onBounced(
      bounce('x@example.com', { code: 550, enhanced: '5.1.1', text: 'line one\nline, "two"' }),
    );
    await h.list.add({ address: 'y@example.com', reason: 'operator' });
    await h.list.add({ address: 'old@example.com', reason: 'lapsed', expiresAt: h.clock.now + 1000 });
    h.clock.now += 2000;
    for (const format of ['csv', 'jsonl'] as const) {
      let text = '';
      for await (const line of h.list.export(format)) text += line;
      assert.doesNotMatch(text, /old@example\.com/);
      const copy = await harness();
      assert.deepEqual(await copy.list.import(text, format), { added: 2, updated: 0 });
      assert.deepEqual(
        (await copy.list.list({ limit: 10 })).items,
        (await h.list.list({ limit: 10 })).items,
        format,
      );
      await copy.store.close();
    }
    await h.store.close();
  });

  it('purges lapsed entries from the store and the index', async () => {
    const h = await harness();
    await h.list.add({ address: 'a@example.com', expiresAt: h.clock.now + 10 });
    await h.list.add({ address: 'b@example.com' });
    h.clock.now += 10;
    assert.equal(await h.list.purgeExpired(), 1);
    assert.equal(h.list.size, 1);
    assert.equal(await h.store.getSuppression('a@example.com'), undefined);
    await h.store.close();
  });
});

describe('refusalFor', () => {
  it('answers 550 5.1.1 for bounce entries and 5.7.1 for operator ones, in one printable line', () => {
    const bounced = refusalFor({
      address: 'x@example.com',
      reason: '550 5.1.1 <x@example.com>:\r\nuser unknown\u00e9',
      messageId: 'M',
      createdAt: Date.parse('2025-03-01T10:00:00Z'),
      expiresAt: Date.parse('2025-04-01T10:00:00Z'),
    });
    assert.equal(bounced.code, 550);
    assert.equal(bounced.enhanced, '5.1.1');
    assert.equal(
      bounced.text,
      'Recipient suppressed until 2025-04-01: it bounced on 2025-03-01 (550 5.1.1 <x@example.com>: user unknown)',
    );
    const manual = refusalFor({ address: 'y@example.com', reason: 'r'.repeat(900), createdAt: 0 });
    assert.equal(manual.enhanced, '5.7.1');
    assert.match(manual.text, /^Recipient suppressed by the operator \(r+\.\.\.\)$/);
    assert.ok(manual.text.length < 300);
    assert.match(manual.text, /^[\x20-\x7e]+$/);
  });
});
