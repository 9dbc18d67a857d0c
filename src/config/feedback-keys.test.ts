/**
 * Tests for the `feedback` section of the config file: webhooks, suppression, the
 * event log and classification overrides. Each key is shown accepted (with its
 * default when left out) and refused with its key path named.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type ConfigFixture, configFixture } from './test-fixture.ts';

let f: ConfigFixture;
before(async () => {
  f = await configFixture();
});
after(async () => {
  await f.dispose();
});

const loadYaml = async (yaml: string) => f.load(['--config', await f.yamlFile(yaml)]);
const WHSEC = `whsec_${Buffer.alloc(24, 7).toString('base64')}`;

describe('feedback keys accepted', () => {
  test('webhooks: Standard Webhooks and plain secrets, all or some events', async () => {
    const c = await loadYaml(`
feedback:
  webhooks:
    - { url: "https://hooks.example/mx?x=1", secret: "${WHSEC}" }
    - { url: "http://127.0.0.1:8080/in", secret: "a plain shared secret", events: [bounced, dsn-sent, suppression-added] }
`);
    assert.deepEqual(c.feedback.webhooks, [
      { url: 'https://hooks.example/mx?x=1', secret: WHSEC },
      {
        url: 'http://127.0.0.1:8080/in',
        secret: 'a plain shared secret',
        events: ['bounced', 'dsn-sent', 'suppression-added'],
      },
    ]);
  });

  test('retention: default 7 days, a duration, or 0 to keep history forever', async () => {
    assert.equal((await loadYaml('feedback: {}')).feedback.retentionMs, 7 * 86_400_000);
    assert.equal((await loadYaml('feedback: { retention: 36h }')).feedback.retentionMs, 36 * 3_600_000);
    assert.equal((await loadYaml('feedback: { retention: 0 }')).feedback.retentionMs, 0);
  });

  test('webhookHold: default 30 days, a duration, or 0 to hold unsent events until they are sent', async () => {
    assert.equal((await loadYaml('feedback: {}')).feedback.webhookHoldMs, 30 * 86_400_000);
    assert.equal((await loadYaml('feedback: { webhookHold: 2d }')).feedback.webhookHoldMs, 2 * 86_400_000);
    assert.equal((await loadYaml('feedback: { webhookHold: 0 }')).feedback.webhookHoldMs, 0);
  });

  test('suppression and the event log: set, partly set, forever', async () => {
    const c = await loadYaml(`
dataDir: /var/lib/mx
feedback:
  suppression: { enabled: false, ttl: 0 }
  eventLog: { maxBytes: 1MB, keep: 0 }
`);
    assert.deepEqual(c.feedback.suppression, { enabled: false, ttlMs: 0 });
    assert.deepEqual(c.feedback.eventLog, {
      enabled: true,
      path: '/var/lib/mx/events.log',
      maxBytes: 1024 * 1024,
      keep: 0,
    });
    const moved = await loadYaml(
      'feedback: { eventLog: { enabled: false, path: logs/ev.jsonl }, suppression: { ttl: 7d } }',
    );
    assert.deepEqual(moved.feedback.eventLog, {
      enabled: false,
      path: join(f.dir, 'logs', 'ev.jsonl'),
      maxBytes: 50 * 1024 * 1024,
      keep: 5,
    });
    assert.deepEqual(moved.feedback.suppression, { enabled: true, ttlMs: 7 * 86_400_000 });
  });

  test('classification rules keep only the matchers given', async () => {
    const c = await loadYaml(`
feedback:
  classification:
    - { text: "mailbox (is )?full", severity: soft, category: mailbox-full }
    - { enhanced: "5.7", code: 550, severity: hard, category: policy }
    - { errorCode: econnrefused, severity: soft, category: connection-refused }
    - { enhanced: x.1.1, errorCode: "DNS_*", severity: hard, category: bad-domain }
    - { enhanced: none, code: 5, text: "go away", severity: hard, category: rude }
`);
    assert.deepEqual(c.feedback.classification, [
      { text: 'mailbox (is )?full', severity: 'soft', category: 'mailbox-full' },
      { enhanced: '5.7', code: '550', severity: 'hard', category: 'policy' },
      { errorCode: 'ECONNREFUSED', severity: 'soft', category: 'connection-refused' },
      { enhanced: 'X.1.1', errorCode: 'DNS_*', severity: 'hard', category: 'bad-domain' },
      { text: 'go away', enhanced: 'none', code: '5', severity: 'hard', category: 'rude' },
    ]);
  });
});

describe('feedback keys refused, with the key named', () => {
  const hook = (fields: string) => `feedback: { webhooks: [ { ${fields} } ] }`;
  const rule = (fields: string) => `feedback: { classification: [ { ${fields} } ] }`;
  const refused: [name: string, yaml: string, message: string][] = [
    [
      'unknown section key',
      'feedback: { webhook: [] }',
      'feedback.webhook: unknown key (did you mean "webhooks"?)',
    ],
    [
      'webhook scheme',
      hook(`url: "ftp://h.example/", secret: "${WHSEC}"`),
      'feedback.webhooks[0].url: expected an http:// or https:// URL, got a ftp: URL',
    ],
    [
      'webhook url',
      hook(`url: "not a url", secret: "${WHSEC}"`),
      'feedback.webhooks[0].url: expected an http://',
    ],
    ['retention', 'feedback: { retention: soon }', 'feedback.retention: '],
    ['webhook hold', 'feedback: { webhookHold: -1d }', 'feedback.webhookHold: '],
    ['webhook without secret', hook('url: "https://h.example/"'), 'feedback.webhooks[0].secret: is required'],
    [
      'short secret',
      hook('url: "https://h.example/", secret: short'),
      'feedback.webhooks[0].secret: expected 16-1024 characters',
    ],
    [
      'whsec not base64',
      hook('url: "https://h.example/", secret: "whsec_not-base64-at-all!!"'),
      'feedback.webhooks[0].secret: a whsec_ secret must be followed by base64 of at least 16 bytes',
    ],
    [
      'whsec too short',
      hook(`url: "https://h.example/", secret: "whsec_${Buffer.alloc(12).toString('base64')}"`),
      'feedback.webhooks[0].secret: a whsec_ secret must be followed by base64',
    ],
    [
      'redacted secret',
      hook('url: "https://h.example/", secret: "[redacted]"'),
      'feedback.webhooks[0].secret: is the [redacted] placeholder',
    ],
    [
      'unknown event',
      hook(`url: "https://h.example/", secret: "${WHSEC}", events: [bounced, opened]`),
      'feedback.webhooks[0].events[1]: expected one of "received", "delivered"',
    ],
    [
      'empty event list',
      hook(`url: "https://h.example/", secret: "${WHSEC}", events: []`),
      'feedback.webhooks[0].events: at least 1 entry',
    ],
    [
      'event twice',
      hook(`url: "https://h.example/", secret: "${WHSEC}", events: [bounced, bounced]`),
      'feedback.webhooks[0].events: "bounced" is listed twice',
    ],
    [
      'suppression flag',
      'feedback: { suppression: { enabled: on } }',
      'feedback.suppression.enabled: expected true or false',
    ],
    [
      'suppression ttl',
      'feedback: { suppression: { ttl: a month } }',
      'feedback.suppression.ttl: expected a duration',
    ],
    [
      'event log size',
      'feedback: { eventLog: { maxBytes: 10 } }',
      'feedback.eventLog.maxBytes: must be at least 1KB',
    ],
    ['event log keep', 'feedback: { eventLog: { keep: -1 } }', 'feedback.eventLog.keep: must be at least 0'],
    [
      'event log path',
      'feedback: { eventLog: { path: "" } }',
      'feedback.eventLog.path: expected a file system path',
    ],
    [
      'rule without matcher',
      rule('severity: hard, category: bad-mailbox'),
      'feedback.classification[0]: needs at least one of text, enhanced, code or errorCode',
    ],
    [
      'bad regular expression',
      rule('text: "(unclosed", severity: hard, category: x'),
      'feedback.classification[0].text: is not a valid regular expression',
    ],
    [
      'bad enhanced',
      rule('enhanced: "5.7.y", severity: hard, category: x'),
      'feedback.classification[0].enhanced: expected',
    ],
    [
      'enhanced class',
      rule('enhanced: "3.1", severity: hard, category: x'),
      'feedback.classification[0].enhanced: expected',
    ],
    [
      'enhanced too long',
      rule('enhanced: "5.1.1.1", severity: hard, category: x'),
      'feedback.classification[0].enhanced: expected',
    ],
    [
      'bad code',
      rule('code: 650, severity: hard, category: x'),
      'feedback.classification[0].code: expected a reply code',
    ],
    [
      'bad error code',
      rule('errorCode: "ECONN REFUSED", severity: soft, category: x'),
      'feedback.classification[0].errorCode: expected an error code like ECONNREFUSED',
    ],
    [
      'bad severity',
      rule('code: 5, severity: permanent, category: x'),
      'feedback.classification[0].severity: expected one of "hard", "soft", got "permanent"',
    ],
    ['missing severity', rule('code: 5, category: x'), 'feedback.classification[0].severity: is required'],
    [
      'bad category',
      rule('code: 5, severity: hard, category: "Bad Mailbox"'),
      'feedback.classification[0].category: expected a category like bad-mailbox',
    ],
  ];
  for (const [name, yaml, message] of refused) {
    test(`refuses: ${name}`, async () => {
      const path = await f.yamlFile(yaml);
      const error = await f.loadError(['--config', path]);
      assert.ok(
        error.message.includes(message),
        `message ${JSON.stringify(error.message)} lacks ${JSON.stringify(message)}`,
      );
      assert.equal(error.origin, path);
    });
  }

  test('a webhook secret is never echoed in an error', async () => {
    const path = await f.yamlFile(hook('url: "https://h.example/", secret: "whsec_topsecret!!!!!!!!"'));
    const error = await f.loadError(['--config', path]);
    assert.match(error.message, /feedback\.webhooks\[0\]\.secret:/);
    assert.doesNotMatch(error.message, /topsecret/);
  });
});
