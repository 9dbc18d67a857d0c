/**
 * Tests for classify.ts: severity and the rule tiers, local error codes with the replies
 * the delivery engine records next to them, configured overrides, the pasted-text
 * parser, and a seeded fuzz run (never throws, bounded time). The real-world reply
 * table is in classify-real-world.test.ts. Pure; no I/O.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { seededRandom } from '../../test/harness/prng.ts';
import type { ClassificationRule } from '../config/types.ts';
import type { SmtpReply } from '../contracts/status.ts';
import { CATEGORIES, type ClassifyInput, classify, parseExplainInput } from './classify.ts';

describe('classify: severity', () => {
  const reply = (code: number, enhanced: string | undefined, text: string): ClassifyInput => ({
    reply: { code, ...(enhanced ? { enhanced } : {}), text },
  });
  it('a rule that is hard on 5xx is soft on 4xx', () => {
    assert.equal(classify(reply(550, '5.1.1', 'User unknown')).severity, 'hard');
    assert.equal(classify(reply(450, '4.1.1', 'User unknown')).severity, 'soft');
    assert.equal(classify(reply(450, '4.1.1', 'User unknown')).category, 'bad-mailbox');
  });
  it('552 5.2.2 mailbox full is soft; 550 5.7.1 spam is hard; 450/451 4.7.1 greylisting is soft', () => {
    assert.deepEqual(pick(classify(reply(552, '5.2.2', 'Mailbox full'))), ['soft', 'mailbox-full']);
    assert.deepEqual(pick(classify(reply(550, '5.7.1', 'Message identified as spam'))), [
      'hard',
      'spam-or-policy',
    ]);
    assert.deepEqual(pick(classify(reply(450, '4.7.1', 'Greylisted, try again in 5 minutes'))), [
      'soft',
      'greylisting',
    ]);
    assert.deepEqual(pick(classify(reply(451, '4.7.1', 'Try again later'))), ['soft', 'greylisting']);
  });
  it('falls back on the enhanced code, then the reply code, then the class', () => {
    assert.deepEqual(rulePick(classify(reply(550, '5.1.1', 'nope'))), [
      'hard',
      'bad-mailbox',
      'enhanced:X.1.1',
    ]);
    assert.deepEqual(rulePick(classify(reply(452, '4.2.2', 'x'))), [
      'soft',
      'mailbox-full',
      'enhanced:X.2.2',
    ]);
    assert.deepEqual(rulePick(classify(reply(550, '5.7.0', 'x'))), [
      'hard',
      'spam-or-policy',
      'enhanced:X.7',
    ]);
    assert.deepEqual(rulePick(classify(reply(421, undefined, 'x'))), [
      'soft',
      'server-unavailable',
      'code:421',
    ]);
    assert.deepEqual(rulePick(classify(reply(552, undefined, 'x'))), ['soft', 'mailbox-full', 'code:552']);
    assert.deepEqual(rulePick(classify(reply(554, undefined, 'x'))), ['hard', 'unknown', 'class:5xx']);
    assert.deepEqual(rulePick(classify(reply(450, undefined, 'x'))), ['soft', 'unknown', 'class:any']);
  });
  it('reads typographic apostrophes and line breaks in reply text as plain ones', () => {
    const v = classify(reply(550, undefined, 'This mailbox doesn\u2019t\nexist'));
    assert.deepEqual(rulePick(v), ['hard', 'bad-mailbox', 'text:bad-mailbox']);
  });
  it('an empty input is an unknown soft failure', () => {
    assert.deepEqual(rulePick(classify({})), ['soft', 'unknown', 'fallback']);
  });
});

function pick(v: { severity: string; category: string }): [string, string] {
  return [v.severity, v.category];
}
function rulePick(v: { severity: string; category: string; rule: string }): [string, string, string] {
  return [v.severity, v.category, v.rule];
}

describe('classify: local error codes', () => {
  const cases: readonly [string, SmtpReply | undefined, string, 'hard' | 'soft'][] = [
    ['ECONNREFUSED', undefined, 'connection-refused', 'soft'],
    // The engine records a made-up 451 4.4.1 next to a connect failure: the code decides.
    [
      'ECONNREFUSED',
      {
        code: 451,
        enhanced: '4.4.1',
        text: 'ECONNREFUSED during connect: connect ECONNREFUSED 192.0.2.1:25',
      },
      'connection-refused',
      'soft',
    ],
    ['ETIMEDOUT', undefined, 'connection-timeout', 'soft'],
    ['ECONNRESET', undefined, 'connection-reset', 'soft'],
    ['EHOSTUNREACH', undefined, 'network-unreachable', 'soft'],
    ['ENETUNREACH', undefined, 'network-unreachable', 'soft'],
    ['TLS_REQUIRED', undefined, 'tls-failure', 'soft'],
    [
      'TLS_FAILED',
      { code: 451, enhanced: '4.4.1', text: 'TLS_FAILED during starttls: bad record mac' },
      'tls-failure',
      'soft',
    ],
    [
      'TLS_FAILED',
      {
        code: 451,
        enhanced: '4.4.1',
        text: 'TLS_FAILED during starttls: TLS handshake failed: certificate has expired',
      },
      'certificate-error',
      'soft',
    ],
    ['CERT_HAS_EXPIRED', undefined, 'certificate-error', 'soft'],
    ['DEPTH_ZERO_SELF_SIGNED_CERT', undefined, 'certificate-error', 'soft'],
    ['ERR_TLS_CERT_ALTNAME_INVALID', undefined, 'certificate-error', 'soft'],
    ['UNABLE_TO_VERIFY_LEAF_SIGNATURE', undefined, 'certificate-error', 'soft'],
    ['PROTOCOL', undefined, 'protocol-error', 'soft'],
    ['CLOSED', undefined, 'connection-reset', 'soft'],
    [
      'DNS_NXDOMAIN',
      { code: 550, enhanced: '5.1.2', text: 'Domain example.invalid does not exist (NXDOMAIN)' },
      'bad-domain',
      'hard',
    ],
    [
      'DNS_NULL_MX',
      { code: 556, enhanced: '5.1.10', text: 'Domain example.com does not accept mail (null MX, RFC 7505)' },
      'null-mx',
      'hard',
    ],
    [
      'DNS_SERVFAIL',
      { code: 451, enhanced: '4.4.3', text: 'DNS lookup for example.com failed for now: SERVFAIL' },
      'dns-failure',
      'soft',
    ],
    ['DNS_TIMEOUT', undefined, 'dns-failure', 'soft'],
    ['DNS_REFUSED', undefined, 'dns-failure', 'soft'],
    ['DNS_ERROR', undefined, 'dns-failure', 'soft'],
    ['DNS_NO_ADDRESS', undefined, 'dns-failure', 'soft'],
    ['ENOTFOUND', undefined, 'dns-failure', 'soft'],
    ['EAI_AGAIN', undefined, 'dns-failure', 'soft'],
    ['GREETING_REJECTED', { code: 554, text: 'No SMTP service here' }, 'reputation-or-blocklist', 'soft'],
    ['GREETING_REJECTED', { code: 421, text: 'mx.example.com closing' }, 'server-unavailable', 'soft'],
    [
      'GREETING_REJECTED',
      { code: 554, enhanced: '5.7.1', text: 'Client host [192.0.2.10] blocked using zen.spamhaus.org' },
      'reputation-or-blocklist',
      'soft',
    ],
    [
      'AUTH_FAILED',
      { code: 535, enhanced: '5.7.8', text: 'Error: authentication failed' },
      'auth-required',
      'soft',
    ],
    ['INTERNAL', undefined, 'local-error', 'soft'],
    // Next to a made-up 4.4.1 reply (as every replyless failure once got): the error code decides.
    [
      'LOCAL',
      { code: 451, enhanced: '4.4.1', text: 'LOCAL during mail: could not load the message' },
      'local-error',
      'soft',
    ],
    ['EWHATEVER', undefined, 'unknown', 'soft'],
  ];
  for (const [errorCode, reply, category, severity] of cases) {
    it(`${errorCode}${reply ? ` with ${reply.code}` : ''} -> ${severity} ${category}`, () => {
      const v = classify({ errorCode, ...(reply ? { reply } : {}) });
      assert.deepEqual(pick(v), [severity, category], `rule ${v.rule}`);
    });
  }
  it('error codes match case-insensitively', () => {
    assert.equal(classify({ errorCode: 'econnrefused' }).category, 'connection-refused');
  });
});

describe('classify: configured overrides', () => {
  const userUnknown: ClassifyInput = { reply: { code: 550, enhanced: '5.1.1', text: 'User unknown' } };
  it('come first, in order, and name themselves', () => {
    const overrides: ClassificationRule[] = [
      { code: '4', severity: 'soft', category: 'never-matches-5xx' },
      { text: 'user\\s+UNKNOWN', severity: 'soft', category: 'my-unknown' },
      { enhanced: '5.1', severity: 'hard', category: 'later' },
    ];
    const v = classify(userUnknown, overrides);
    assert.deepEqual(rulePick(v), ['soft', 'my-unknown', 'override:1']);
    assert.match(v.explanation.cause, /my-unknown/);
  });
  it('all matchers of a rule must match; enhanced and code are prefixes', () => {
    const overrides: ClassificationRule[] = [
      { enhanced: '5.1', code: '551', severity: 'soft', category: 'wrong-code' },
      { enhanced: '5.1', code: '55', severity: 'soft', category: 'both' },
    ];
    assert.equal(classify(userUnknown, overrides).category, 'both');
    assert.equal(
      classify(userUnknown, [{ enhanced: '5.1.10', severity: 'soft', category: 'x' }]).rule,
      'text:bad-mailbox',
    );
  });
  it('a configured category can be a built-in one and takes its explanation', () => {
    const v = classify(userUnknown, [{ text: 'unknown', severity: 'soft', category: 'greylisting' }]);
    assert.equal(v.explanation.title, CATEGORIES.find((c) => c.key === 'greylisting')?.explanation.title);
  });
  it('match local error codes, ignoring case', () => {
    const v = classify({ errorCode: 'ECONNREFUSED' }, [
      { errorCode: 'econnrefused', severity: 'hard', category: 'x' },
    ]);
    assert.deepEqual(rulePick(v), ['hard', 'x', 'override:0']);
  });
  it('are skipped when unusable: bad regex, no matcher, bad severity', () => {
    const overrides = [
      { text: '(unclosed', severity: 'soft', category: 'bad-regex' },
      { severity: 'soft', category: 'no-matcher' },
      { code: '5', severity: 'maybe', category: 'bad-severity' },
      { code: '5', severity: 'soft', category: '' },
    ] as unknown as ClassificationRule[];
    assert.equal(classify(userUnknown, overrides).rule, 'text:bad-mailbox');
  });
});

describe('parseExplainInput', () => {
  it('reads a one-line reply', () => {
    assert.deepEqual(parseExplainInput('550 5.1.1 User unknown'), {
      reply: { code: 550, enhanced: '5.1.1', text: 'User unknown' },
    });
  });
  it('joins a multi-line reply, dropping each line prefix', () => {
    assert.deepEqual(parseExplainInput('452-4.2.2 The mailbox\r\n452-4.2.2 is over\r\n452 4.2.2 quota'), {
      reply: { code: 452, enhanced: '4.2.2', text: 'The mailbox\nis over\nquota' },
    });
  });
  it('finds the reply inside a bounce or log line', () => {
    assert.deepEqual(
      parseExplainInput("Remote Server returned '550 5.1.10 RESOLVER.ADR.RecipientNotFound; not found'")
        ?.reply,
      { code: 550, enhanced: '5.1.10', text: 'RESOLVER.ADR.RecipientNotFound; not found' },
    );
    const dsn =
      'Action: failed\nStatus: 5.1.1\nDiagnostic-Code: smtp; 550 5.1.1 <a@example.com>: user unknown';
    assert.deepEqual(parseExplainInput(dsn)?.reply, {
      code: 550,
      enhanced: '5.1.1',
      text: '<a@example.com>: user unknown',
    });
  });
  it('takes an enhanced status code alone as a reply of its class', () => {
    assert.deepEqual(parseExplainInput('Status: 4.2.2'), {
      reply: { code: 450, enhanced: '4.2.2', text: '' },
    });
  });
  it('keeps an enhanced code of another class in the text', () => {
    assert.deepEqual(parseExplainInput('550 4.1.1 odd'), { reply: { code: 550, text: '4.1.1 odd' } });
  });
  it('reads error codes and node error messages', () => {
    assert.deepEqual(parseExplainInput('ECONNREFUSED'), { errorCode: 'ECONNREFUSED' });
    assert.deepEqual(parseExplainInput('  econnrefused \n'), { errorCode: 'ECONNREFUSED' });
    assert.deepEqual(parseExplainInput('connect ETIMEDOUT 1.2.3.4:25'), { errorCode: 'ETIMEDOUT' });
    assert.deepEqual(parseExplainInput('connect ECONNREFUSED 192.0.2.250:25'), { errorCode: 'ECONNREFUSED' });
    assert.deepEqual(parseExplainInput('Error: certificate has expired'), { errorCode: 'CERT_HAS_EXPIRED' });
    assert.deepEqual(parseExplainInput('Error: self-signed certificate'), {
      errorCode: 'DEPTH_ZERO_SELF_SIGNED_CERT',
    });
    assert.deepEqual(parseExplainInput('Error: unable to verify the first certificate'), {
      errorCode: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
    });
    assert.deepEqual(parseExplainInput('getaddrinfo ENOTFOUND smtp.example.com'), { errorCode: 'ENOTFOUND' });
    assert.deepEqual(parseExplainInput('Error: read ECONNRESET'), { errorCode: 'ECONNRESET' });
    assert.deepEqual(
      parseExplainInput('TLS_FAILED during starttls: TLS handshake failed: certificate has expired'),
      {
        errorCode: 'CERT_HAS_EXPIRED',
      },
    );
    assert.deepEqual(parseExplainInput('CLOSED during data: the server closed the connection'), {
      errorCode: 'CLOSED',
    });
    assert.deepEqual(parseExplainInput('Connection refused'), { errorCode: 'ECONNREFUSED' });
    assert.deepEqual(parseExplainInput('EFOOBAR'), { errorCode: 'EFOOBAR' });
  });
  it('does not read ordinary words in a reply as error codes', () => {
    assert.deepEqual(parseExplainInput('550 MESSAGE REJECTED'), {
      reply: { code: 550, text: 'MESSAGE REJECTED' },
    });
    assert.deepEqual(parseExplainInput('451 LOCAL ERROR IN PROCESSING'), {
      reply: { code: 451, text: 'LOCAL ERROR IN PROCESSING' },
    });
    assert.deepEqual(parseExplainInput('LOCAL during mail: could not load the message'), {
      errorCode: 'LOCAL',
    });
    assert.deepEqual(parseExplainInput('421 4.4.2 timeout exceeded')?.errorCode, undefined);
  });
  it('returns undefined when there is neither a reply nor an error code', () => {
    for (const text of [
      '',
      '   ',
      'hello world',
      'the mail did not arrive',
      '1.2.3.4',
      'ESMTP ok',
      'version 1.2.3',
    ])
      assert.equal(parseExplainInput(text), undefined, JSON.stringify(text));
  });
});

describe('classify and parseExplainInput: fuzz', () => {
  const corpus = CATEGORIES.flatMap((c) => c.examples);
  const alphabet =
    '0123456789....---   \n\r\t:;<>[]()\'"@_ESMTPECONNREFUSED5.1.1 450 user unknown \u00e9\u2019\u0000\ud800';

  it('never throws and always gives a valid verdict (seed 20240611)', () => {
    const rand = seededRandom(20240611);
    const int = (n: number): number => Math.floor(rand() * n);
    const randomText = (max: number): string => {
      let s = '';
      for (let i = int(max); i > 0; i--) s += alphabet[int(alphabet.length)];
      return s;
    };
    const mutate = (s: string): string => {
      let out = s;
      for (let k = int(6); k > 0; k--) {
        const at = int(out.length + 1);
        out = out.slice(0, at) + randomText(8) + out.slice(at + int(5));
      }
      return out;
    };
    const started = performance.now();
    for (let i = 0; i < 4000; i++) {
      const text = i % 2 === 0 ? mutate(corpus[int(corpus.length)]!) : randomText(200);
      const parsed = parseExplainInput(text);
      if (parsed !== undefined) assert.ok(parsed.reply !== undefined || parsed.errorCode !== undefined);
      const weird = [NaN, -1, 0, 99, 200, 250, 421, 450, 451, 550, 554, 599, 600, 1e9, 4.5][int(15)]!;
      const inputs: ClassifyInput[] = [
        parsed ?? {},
        { reply: { code: weird, enhanced: randomText(8), text } },
        { reply: { code: weird, text: randomText(50) }, errorCode: randomText(12) },
        { errorCode: text },
        { reply: null, errorCode: 42 } as unknown as ClassifyInput,
      ];
      const overrides = [
        { text: randomText(6), severity: 'soft', category: 'fz' },
        { enhanced: randomText(5), code: randomText(2), severity: 'hard', category: 'fz2' },
      ] as ClassificationRule[];
      for (const input of inputs) {
        const v = classify(input, i % 3 === 0 ? overrides : undefined);
        assert.ok(v.severity === 'hard' || v.severity === 'soft');
        assert.ok(v.category.length > 0 && v.rule !== 'error', JSON.stringify({ input, v }));
        assert.ok(v.explanation.title && v.explanation.cause && v.explanation.action);
      }
    }
    assert.equal(classify(undefined as unknown as ClassifyInput).category, 'unknown');
    assert.equal(parseExplainInput(undefined as unknown as string), undefined);
    assert.ok(performance.now() - started < 20_000, 'fuzz run stays fast');
  });

  it('stays fast on long adversarial texts', () => {
    const long = [
      'a '.repeat(40_000),
      `${'user '.repeat(10_000)}x`,
      `550 ${'helo '.repeat(10_000)}`,
      `550-${'mailbox '.repeat(5_000)}\n`.repeat(50),
      '5'.repeat(70_000),
    ];
    const started = performance.now();
    for (const text of long) {
      const parsed = parseExplainInput(text);
      classify(parsed ?? { reply: { code: 550, text } });
      classify({ reply: { code: 450, enhanced: '4.7.1', text } });
    }
    assert.ok(performance.now() - started < 3_000, `${Math.round(performance.now() - started)} ms`);
  });
});
