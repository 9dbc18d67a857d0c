import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { RecipientInput } from '../contracts/envelope.ts';
import type { LifecycleEvent } from '../contracts/events.ts';
import type { StoredMessage } from '../contracts/spool.ts';
import { type Acceptor, createAcceptor } from '../ingress/accept.ts';
import { createSqliteSpool, type SqliteSpool } from '../spool/sqlite/index.ts';
import { type BounceRecipient, type Bouncer, createBouncer, notifyWants } from './bounces.ts';
import { EventBus } from './event-bus.ts';

const ORIGINAL_BODY =
  'From: Alice <alice@example.com>\r\nTo: bob@example.org\r\nSubject: Lunch\r\n\r\nNoon?\r\n';

let dir: string;
let spool: SqliteSpool;
let acceptor: Acceptor;
let bouncer: Bouncer;
const published: LifecycleEvent[] = [];
const logged: { level: string; message: string }[] = [];

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mxpress-bounces-'));
  const events = new EventBus();
  events.subscribe((event) => published.push(event));
  spool = createSqliteSpool({
    dataDir: join(dir, 'data'),
    inProcess: true,
    onStored: (stored) => events.publish(stored),
  });
  await spool.open();
  acceptor = createAcceptor({ spool, hostname: 'mx.test' });
  bouncer = createBouncer({
    acceptor,
    spool,
    hostname: 'mx.test',
    log: (level, message) => logged.push({ level, message }),
    now: () => Date.UTC(2026, 0, 2),
  });
});

after(async () => {
  await spool.close();
  await rm(dir, { recursive: true, force: true });
});

async function original(
  recipients: readonly RecipientInput[],
  extra: { mailFrom?: string; ret?: 'FULL' | 'HDRS'; smtputf8?: boolean; body?: string } = {},
): Promise<StoredMessage> {
  const { id } = await acceptor.accept({
    envelope: {
      mailFrom: extra.mailFrom ?? 'alice@example.com',
      recipients,
      bodyType: '8BITMIME',
      smtputf8: extra.smtputf8 ?? false,
      envid: 'ENV-7',
      ...(extra.ret ? { ret: extra.ret } : {}),
    },
    origin: {
      kind: 'smtp',
      listener: '127.0.0.1:2525',
      clientIp: '127.0.0.1',
      clientPort: 40000,
      helo: 'client.test',
      protocol: 'ESMTP',
    },
    content: [Buffer.from(extra.body ?? ORIGINAL_BODY, 'utf8')],
  });
  const stored = await spool.getMessage(id);
  assert.ok(stored);
  return stored;
}

const FAILED: BounceRecipient = {
  index: 0,
  action: 'failed',
  status: '5.1.1',
  remoteMta: 'mx.example.org',
  reply: { code: 550, enhanced: '5.1.1', text: 'No such user\nSee https://help.example/550' },
  lastAttemptAt: Date.UTC(2026, 0, 1, 12),
  explanation: 'The mailbox does not exist at the receiving server.',
};

/** The report as stored: its envelope, origin and body text. */
async function stored(id: string | undefined): Promise<{ message: StoredMessage; text: string }> {
  assert.ok(id, 'a report was queued');
  const message = await spool.getMessage(id);
  assert.ok(message);
  return { message, text: Buffer.from(await spool.readBody(id)).toString('utf8') };
}

function fieldValues(text: string, name: string): string[] {
  const unfolded = text.replace(/\r\n[ \t]/g, ' ');
  return [...unfolded.matchAll(new RegExp(`^${name}: (.*)$`, 'gmi'))].map((m) => m[1]!.trim());
}

describe('createBouncer', () => {
  it('queues one failure report to the sender through the commit path, with the full original', async () => {
    const message = await original([{ address: 'bob@example.org' }]);
    const before = published.length;
    const id = await bouncer.report({ message, recipients: [FAILED] });
    const { message: report, text } = await stored(id);
    assert.equal(report.envelope.mailFrom, '');
    assert.deepEqual(report.envelope.recipients, [{ address: 'alice@example.com', notify: 'NEVER' }]);
    assert.equal(report.envelope.bodyType, '8BITMIME');
    assert.equal(report.origin.kind, 'bounce');
    assert.equal(report.origin.listener, 'internal');
    assert.equal(report.origin.protocol, 'LOCAL');
    assert.equal(report.recipients[0]?.status, 'queued');
    // The acceptor published the report's `received` event.
    const received = published.slice(before).find((e) => e.type === 'received' && e.messageId === id);
    assert.ok(received);
    assert.deepEqual(fieldValues(text, 'Subject'), ['Undelivered Mail Returned to Sender', 'Lunch']);
    assert.deepEqual(fieldValues(text, 'Final-Recipient'), ['rfc822; bob@example.org']);
    assert.deepEqual(fieldValues(text, 'Action'), ['failed']);
    assert.deepEqual(fieldValues(text, 'Original-Envelope-Id'), ['ENV-7']);
    assert.deepEqual(fieldValues(text, 'Diagnostic-Code'), [
      'smtp; 550 5.1.1 No such user See https://help.example/550',
    ]);
    assert.deepEqual(fieldValues(text, 'Reporting-MTA'), ['dns; mx.test']);
    assert.match(text, /Content-Type: message\/rfc822\r\n/);
    assert.ok(text.includes(`Subject: Lunch\r\n\r\nNoon?\r\n`), 'original body attached');
    assert.match(text, /The mailbox does not exist at the receiving server\./);
  });

  it('never reports about a null-sender message or about a report', async () => {
    const nullSender = await original([{ address: 'bob@example.org' }], { mailFrom: '' });
    const messages = (await spool.stats()).messages;
    assert.equal(await bouncer.report({ message: nullSender, recipients: [FAILED] }), undefined);
    const id = await bouncer.report({
      message: await original([{ address: 'bob@example.org' }]),
      recipients: [FAILED],
    });
    const { message: report } = await stored(id);
    assert.equal(await bouncer.report({ message: report, recipients: [FAILED] }), undefined);
    // Even with a sender, a report (origin 'bounce') never causes another report.
    // (Its recipient's NOTIFY=NEVER is lifted too, so only the origin can stop it.)
    const withSender: StoredMessage = {
      ...report,
      envelope: { ...report.envelope, mailFrom: 'postmaster@example.org' },
      recipients: report.recipients.map((r) => ({ ...r, notify: undefined })),
    };
    assert.equal(await bouncer.report({ message: withSender, recipients: [FAILED] }), undefined);
    // One original plus one report were added in between; nothing else.
    assert.equal((await spool.stats()).messages, messages + 2);
  });

  it('honours NOTIFY per recipient and covers all due recipients in ONE report', async () => {
    const message = await original([
      { address: 'never@example.org', notify: 'NEVER' },
      { address: 'default@example.org' },
      { address: 'success-only@example.org', notify: ['SUCCESS'] },
      { address: 'delay@example.org', notify: ['DELAY'] },
      { address: 'failure@example.org', notify: ['FAILURE', 'SUCCESS'] },
    ]);
    const outcomes: BounceRecipient[] = [
      { ...FAILED, index: 0 },
      { ...FAILED, index: 1 },
      { ...FAILED, index: 2 },
      { index: 3, action: 'delayed', status: '4.4.1', willRetryUntil: Date.UTC(2026, 0, 6) },
      { ...FAILED, index: 4 },
    ];
    const before = (await spool.stats()).messages;
    const { message: report, text } = await stored(await bouncer.report({ message, recipients: outcomes }));
    assert.equal((await spool.stats()).messages, before + 1);
    assert.equal(report.envelope.recipients.length, 1);
    assert.deepEqual(fieldValues(text, 'Final-Recipient'), [
      'rfc822; default@example.org',
      'rfc822; delay@example.org',
      'rfc822; failure@example.org',
    ]);
    assert.deepEqual(fieldValues(text, 'Action'), ['failed', 'delayed', 'failed']);
    assert.deepEqual(fieldValues(text, 'Will-Retry-Until'), ['Tue, 6 Jan 2026 00:00:00 +0000']);
    // Mixed with a delay: the original's header section only.
    assert.match(text, /Content-Type: text\/rfc822-headers\r\n/);
    assert.doesNotMatch(text, /Noon\?/);
  });

  it('returns undefined when NOTIFY asks for none of the outcomes', async () => {
    const message = await original([
      { address: 'a@example.org', notify: 'NEVER' },
      { address: 'b@example.org', notify: ['SUCCESS'] },
      { address: 'c@example.org', notify: ['FAILURE'] },
      { address: 'd@example.org' },
    ]);
    const none = await bouncer.report({
      message,
      recipients: [
        { ...FAILED, index: 0 },
        { ...FAILED, index: 1 },
        { index: 2, action: 'delayed', status: '4.4.1' },
        { index: 3, action: 'delivered', status: '2.0.0' },
      ],
    });
    assert.equal(none, undefined);
  });

  it('sends success reports only when asked, with the headers only', async () => {
    const message = await original([{ address: 'b@example.org', notify: ['SUCCESS'] }]);
    const id = await bouncer.report({
      message,
      recipients: [{ index: 0, action: 'delivered', status: '2.0.0', remoteMta: 'mx.example.org' }],
    });
    const { text } = await stored(id);
    assert.deepEqual(fieldValues(text, 'Subject'), ['Successful Mail Delivery Report', 'Lunch']);
    assert.deepEqual(fieldValues(text, 'Action'), ['delivered']);
    assert.match(text, /Content-Type: text\/rfc822-headers\r\n/);
  });

  it('honours RET=HDRS for failures', async () => {
    const message = await original([{ address: 'bob@example.org' }], { ret: 'HDRS' });
    const { text } = await stored(await bouncer.report({ message, recipients: [FAILED] }));
    assert.match(text, /Content-Type: text\/rfc822-headers\r\n/);
    assert.match(text, /Subject: Lunch\r\n/);
    assert.doesNotMatch(text, /Noon\?/);
  });

  it('falls back to the stored summary headers once the body was released', async () => {
    const message = await original([{ address: 'bob@example.org' }]);
    await spool.update([{ messageId: message.id, index: 0, status: 'bounced' }]);
    const released = await spool.getMessage(message.id);
    assert.equal(released?.hasBody, false);
    const { text } = await stored(await bouncer.report({ message, recipients: [FAILED] }));
    assert.match(text, /Content-Type: text\/rfc822-headers\r\n/);
    assert.match(text, /Subject: Lunch\r\n/);
    assert.match(text, /From: Alice <alice@example\.com>\r\n/);
    assert.doesNotMatch(text, /Noon\?/);
    assert.ok(logged.some((l) => l.level === 'warn' && /body unreadable/.test(l.message)));
  });

  it('reports SMTPUTF8 mail with the global types and an SMTPUTF8 envelope', async () => {
    const message = await original([{ address: 'δοκιμή@παράδειγμα.example' }], {
      mailFrom: 'jörg@bücher.example',
      smtputf8: true,
    });
    const { message: report, text } = await stored(await bouncer.report({ message, recipients: [FAILED] }));
    assert.equal(report.envelope.smtputf8, true);
    assert.deepEqual(report.envelope.recipients, [{ address: 'jörg@bücher.example', notify: 'NEVER' }]);
    assert.match(text, /Content-Type: message\/global-delivery-status\r\n/);
    assert.deepEqual(fieldValues(text, 'Final-Recipient'), ['utf-8; δοκιμή@παράδειγμα.example']);
    assert.match(text, /Content-Type: message\/global\r\n/);
  });

  it('ignores unknown and repeated recipient indexes', async () => {
    const message = await original([{ address: 'bob@example.org' }]);
    const { text } = await stored(
      await bouncer.report({
        message,
        recipients: [FAILED, { ...FAILED, index: 9 }, { ...FAILED, status: '5.2.2' }],
      }),
    );
    assert.deepEqual(fieldValues(text, 'Final-Recipient'), ['rfc822; bob@example.org']);
    assert.deepEqual(fieldValues(text, 'Status'), ['5.1.1']);
    assert.ok(logged.some((l) => l.level === 'error' && /unknown recipient index/.test(l.message)));
  });
});

describe('notifyWants', () => {
  it('follows RFC 3461 for every action', () => {
    const cases: [Parameters<typeof notifyWants>[0], Parameters<typeof notifyWants>[1], boolean][] = [
      [undefined, 'failed', true],
      [undefined, 'delayed', true],
      [undefined, 'delivered', false],
      [undefined, 'relayed', false],
      ['NEVER', 'failed', false],
      ['NEVER', 'delayed', false],
      [['FAILURE'], 'failed', true],
      [['FAILURE'], 'delayed', false],
      [['DELAY'], 'delayed', true],
      [['DELAY'], 'failed', false],
      [['SUCCESS'], 'delivered', true],
      [['SUCCESS'], 'relayed', true],
      [['SUCCESS'], 'expanded', true],
      [['SUCCESS'], 'failed', false],
    ];
    for (const [notify, action, expected] of cases) {
      assert.equal(notifyWants(notify, action), expected, `${JSON.stringify(notify)} ${action}`);
    }
  });
});
