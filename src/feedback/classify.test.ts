/**
 * Tests for classify.ts: a table of real-world replies as people paste them (parsed
 * with parseExplainInput, then classified), local error codes with the replies the
 * delivery engine records next to them, configured overrides, the pasted-text parser,
 * and a seeded fuzz run (never throws, bounded time). Pure; no I/O.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ClassificationRule } from '../config/types.ts';
import type { SmtpReply } from '../contracts/status.ts';
import { CATEGORIES, type ClassifyInput, classify, parseExplainInput } from './classify.ts';

type Row = readonly [text: string, category: string, severity: 'hard' | 'soft'];

/** Replies seen from large providers and common MTAs, written as a bounce or log shows them. */
const REAL_WORLD: readonly Row[] = [
  // Gmail
  [
    "550-5.1.1 The email account that you tried to reach does not exist. Please try\n550-5.1.1 double-checking the recipient's email address for typos or\n550-5.1.1 unnecessary spaces. Learn more at\n550 5.1.1  https://support.google.com/mail/?p=NoSuchUser",
    'bad-mailbox',
    'hard',
  ],
  [
    '552-5.2.2 The email account that you tried to reach is over quota. Please direct\n552 5.2.2 the recipient to https://support.google.com/mail/?p=OverQuotaPerm',
    'mailbox-full',
    'soft',
  ],
  ['452-4.2.2 The email account that you tried to reach is over quota.', 'mailbox-full', 'soft'],
  [
    '550-5.7.1 [192.0.2.10] Our system has detected that this message is likely unsolicited mail. To reduce the amount of spam sent to Gmail, this message has been blocked.',
    'spam-or-policy',
    'hard',
  ],
  [
    '421-4.7.0 [192.0.2.10] Our system has detected that this message is suspicious due to the very low reputation of the sending IP address.',
    'reputation-or-blocklist',
    'soft',
  ],
  [
    '550-5.7.26 This mail has been blocked because the sender is unauthenticated. Gmail requires all senders to authenticate with either SPF or DKIM.',
    'sender-authentication',
    'soft',
  ],
  [
    '550-5.7.25 [192.0.2.10] The IP address sending this message does not have a PTR record setup, or the corresponding forward DNS entry does not point to the sending IP.',
    'missing-ptr-or-helo',
    'soft',
  ],
  [
    '421-4.7.28 [192.0.2.10] Our system has detected an unusual rate of unsolicited mail originating from your IP address. To protect our users from spam, mail sent from your IP address has been temporarily rate limited.',
    'rate-limited',
    'soft',
  ],
  [
    '450-4.2.1 The user you are trying to contact is receiving mail at a rate that prevents additional messages from being delivered.',
    'rate-limited',
    'soft',
  ],
  ["552-5.2.3 Your message exceeded Google's message size limits.", 'message-too-large', 'hard'],
  ['550 5.4.5 Daily user sending quota exceeded.', 'rate-limited', 'soft'],
  [
    '552-5.7.0 This message was blocked because its content presents a potential\n552-5.7.0 security issue. Please visit\n552 5.7.0  https://support.google.com/mail/?p=BlockedMessage',
    'content-rejected',
    'hard',
  ],
  [
    '550-5.7.1 This message is not RFC 5322 compliant. There are multiple Date headers.',
    'malformed-message',
    'hard',
  ],
  [
    '550 5.7.1 [192.0.2.10] Messages missing a valid Message-ID header are not accepted.',
    'malformed-message',
    'hard',
  ],
  ['530-5.7.0 Must issue a STARTTLS command first.', 'tls-failure', 'soft'],
  ['535-5.7.8 Username and Password not accepted.', 'auth-required', 'soft'],
  ['421-4.3.0 Temporary System Problem.  Try again later (10).', 'local-error', 'soft'],
  ['421-4.7.0 Try again later, closing connection. (EHLO)', 'server-unavailable', 'soft'],
  [
    "550-5.7.1 Unauthenticated email from example.com is not accepted due to domain's DMARC policy.",
    'sender-authentication',
    'soft',
  ],
  ['451-4.3.0 Mail server temporarily rejected message.', 'local-error', 'soft'],
  // Microsoft (Outlook.com, Microsoft 365, Exchange)
  ['550 5.5.0 Requested action not taken: mailbox unavailable (S2017062302).', 'bad-mailbox', 'hard'],
  [
    "Remote Server returned '550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup'",
    'bad-mailbox',
    'hard',
  ],
  [
    '550 5.4.1 Recipient address rejected: Access denied. AS(201806281) [DM6NAM11FT012.eop-nam11.prod.protection.outlook.com]',
    'bad-mailbox',
    'hard',
  ],
  [
    "550 5.7.1 Unfortunately, messages from [192.0.2.10] weren't sent. Please contact your Internet service provider since part of their network is on our block list (S3150).",
    'reputation-or-blocklist',
    'soft',
  ],
  [
    '550 5.7.606 Access denied, banned sending IP [192.0.2.10]. To request removal from this list please visit https://sender.office.com/',
    'reputation-or-blocklist',
    'soft',
  ],
  [
    '451 4.7.650 The mail server [192.0.2.10] has been temporarily rate limited due to IP reputation.',
    'rate-limited',
    'soft',
  ],
  [
    '421 4.7.500 Server busy. Please try again later from [192.0.2.10]. (S77714)',
    'server-unavailable',
    'soft',
  ],
  [
    '550 5.7.708 Service unavailable. Access denied, traffic not accepted from this IP.',
    'reputation-or-blocklist',
    'soft',
  ],
  [
    '550 5.7.1 RESOLVER.RST.NotAuthorized; not authorized to send to this recipient',
    'spam-or-policy',
    'hard',
  ],
  [
    '554 5.2.0 STOREDRV.Deliver.Exception:QuotaExceededException.MapiExceptionShutoffQuotaExceeded; Failed to process message due to a permanent exception',
    'mailbox-full',
    'soft',
  ],
  [
    '550 5.7.57 SMTP; Client was not authenticated to send anonymous mail during MAIL FROM',
    'auth-required',
    'soft',
  ],
  ['452 4.3.1 Insufficient system resources', 'server-unavailable', 'soft'],
  [
    '550 5.7.520 Access denied, Your organization does not allow external forwarding.',
    'spam-or-policy',
    'hard',
  ],
  // Yahoo, AOL
  [
    "554 delivery error: dd This user doesn't have a yahoo.com account (jane@yahoo.com) [0] - mta1234.mail.bf1.yahoo.com",
    'bad-mailbox',
    'hard',
  ],
  [
    "553 5.7.1 [BL21] Connections will not be accepted from 192.0.2.10, because the ip is in Spamhaus's list; see http://postmaster.yahoo.com/550-bl23.html",
    'reputation-or-blocklist',
    'soft',
  ],
  [
    '421 4.7.0 [TSS04] Messages from 192.0.2.10 temporarily deferred due to unexpected volume or user complaints - 4.16.55.1; see https://postmaster.yahooinc.com/error-codes',
    'rate-limited',
    'soft',
  ],
  [
    '554 5.7.9 Message not accepted for policy reasons.  See https://postmaster.yahooinc.com/error-codes',
    'spam-or-policy',
    'hard',
  ],
  ['552 1 Requested mail action aborted, mailbox not found', 'bad-mailbox', 'hard'],
  ['451 Message temporarily deferred - [160]', 'greylisting', 'soft'],
  ['554 Message not allowed - Headers are not RFC compliant[291]', 'malformed-message', 'hard'],
  // Apple iCloud
  ['550 5.1.1 <jane@icloud.com>: user does not exist', 'bad-mailbox', 'hard'],
  [
    '554 5.7.1 [CS01] Message rejected due to local policy. Please visit https://support.apple.com/en-us/HT204137',
    'spam-or-policy',
    'hard',
  ],
  // Comcast, AT&T
  [
    '554 resimta-ch2-18v.sys.comcast.net comcast 192.0.2.10 found on one or more DNSBLs, see http://postmaster.comcast.net/smtp-error-codes.php#BL000010',
    'reputation-or-blocklist',
    'soft',
  ],
  ['550 5.1.1 <jane@att.net> recipient does not exist here.', 'bad-mailbox', 'hard'],
  [
    '553 5.3.0 flpd136 DNSBL:RBL 521< 192.0.2.10 >_is_blocked.For assistance forward this error to abuse_rbl@abuse-att.net',
    'reputation-or-blocklist',
    'soft',
  ],
  // Postfix (as its bounces quote the remote server)
  [
    'host mx.example.com[192.0.2.25] said: 550 5.1.1 <jane@example.com>: Recipient address rejected: User unknown in local recipient table (in reply to RCPT TO command)',
    'bad-mailbox',
    'hard',
  ],
  ['450 4.1.2 <jane@example.invalid>: Recipient address rejected: Domain not found', 'bad-domain', 'soft'],
  ['554 5.7.1 <jane@example.com>: Relay access denied', 'relay-denied', 'hard'],
  ['450 4.7.1 <mail.local>: Helo command rejected: Host not found', 'missing-ptr-or-helo', 'soft'],
  [
    '554 5.7.1 Service unavailable; Client host [192.0.2.10] blocked using bl.spamcop.net',
    'reputation-or-blocklist',
    'soft',
  ],
  ['452 4.2.2 <jane@example.com>: Recipient address rejected: Mailbox full', 'mailbox-full', 'soft'],
  ['552 5.3.4 Message size exceeds fixed limit', 'message-too-large', 'hard'],
  ['450 4.7.1 Client host rejected: cannot find your hostname, [192.0.2.10]', 'missing-ptr-or-helo', 'soft'],
  ['421 4.7.0 mx.example.com Error: too many connections from 192.0.2.10', 'rate-limited', 'soft'],
  ['451 4.3.0 <jane@example.com>: Temporary lookup failure', 'local-error', 'soft'],
  ['504 5.5.2 <ubuntu>: Helo command rejected: need fully-qualified hostname', 'missing-ptr-or-helo', 'soft'],
  ['550 5.7.1 <jane@example.com>: Recipient address rejected: Access denied', 'spam-or-policy', 'hard'],
  [
    '450 4.2.0 <jane@example.com>: Recipient address rejected: Greylisted, see http://postgrey.schweikert.ch/help/example.com.html',
    'greylisting',
    'soft',
  ],
  // Exim
  ['550 Unrouteable address', 'bad-mailbox', 'hard'],
  [
    '550-Verification failed for <noreply@internal.lan>\n550-Unrouteable address\n550 Sender verify failed',
    'bad-sender',
    'soft',
  ],
  [
    '550 rejected because 192.0.2.10 is in a black list at zen.spamhaus.org',
    'reputation-or-blocklist',
    'soft',
  ],
  [
    '451-192.0.2.10 is not yet authorized to deliver mail from\n451 <a@example.com> to <b@example.net>. Please try later.',
    'greylisting',
    'soft',
  ],
  ['550-Rejected: message looks like spam (score 9.1)', 'spam-or-policy', 'hard'],
  ['552 Message size exceeds maximum permitted', 'message-too-large', 'hard'],
  ['451 Temporary local problem - please try later', 'local-error', 'soft'],
  // Sendmail
  ['550 5.1.1 <jane@example.com>... User unknown', 'bad-mailbox', 'hard'],
  [
    '553 5.1.8 <noreply@internal.lan>... Domain of sender address noreply@internal.lan does not exist',
    'bad-sender',
    'soft',
  ],
  ['550 5.7.1 <jane@example.com>... Relaying denied', 'relay-denied', 'hard'],
  ['452 4.4.5 Insufficient disk space; try again later', 'server-unavailable', 'soft'],
  ['421 4.4.2 mx.example.com Error: timeout exceeded', 'server-unavailable', 'soft'],
  // qmail
  ['511 sorry, no mailbox here by that name (#5.1.1)', 'bad-mailbox', 'hard'],
  ['552 sorry, that message size exceeds my databytes limit (#5.3.4)', 'message-too-large', 'hard'],
  // Filters and hosted gateways
  [
    '550 Rejected by header based Anti-Spoofing policy: jane@example.com - https://community.mimecast.com/docs/DOC-1369#550',
    'sender-authentication',
    'soft',
  ],
  ['451 4.7.1 Greylisting in action, please come back later', 'greylisting', 'soft'],
  ['451 4.7.1 Please try again later', 'greylisting', 'soft'],
  [
    '554 5.7.1 Blocked - see https://ipcheck.proofpoint.com/?ip=192.0.2.10',
    'reputation-or-blocklist',
    'soft',
  ],
  ['550 permanent failure for one or more recipients (jane@example.com:blocked)', 'spam-or-policy', 'hard'],
  [
    "554 Your access to this mail system has been rejected due to the sending MTA's poor reputation.",
    'reputation-or-blocklist',
    'soft',
  ],
  ['554 5.7.1 Message Rejected: Virus detected', 'content-rejected', 'hard'],
  ['550 5.7.1 Messages with .exe attachments are not allowed', 'content-rejected', 'hard'],
  // Other large providers
  [
    '554-gmx.net (mxgmx117) Nemesis ESMTP Service not available\n554-No SMTP service\n554 IP address is black listed.',
    'reputation-or-blocklist',
    'soft',
  ],
  [
    '550 Message was not accepted -- invalid mailbox.  Local mailbox jane@mail.ru is unavailable: account is disabled',
    'bad-mailbox',
    'hard',
  ],
  ['554 5.7.1 [2] Message rejected under suspicion of SPAM; https://ya.cc/1IrBc', 'spam-or-policy', 'hard'],
  ['550 5.1.1 Recipient address rejected: this account has been disabled', 'bad-mailbox', 'hard'],
  // Codes alone and RFC texts
  ['450 4.1.1 <jane@example.com>: Recipient address rejected: unverified address', 'bad-mailbox', 'soft'],
  ['556 5.1.10 Recipient address has null MX', 'null-mx', 'hard'],
  ['554 5.6.7 Non-ASCII addresses are not permitted for that recipient', 'encoding-unsupported', 'hard'],
  ['550 5.7.23 SPF validation failed', 'sender-authentication', 'soft'],
  ['554 5.4.6 Too many hops', 'routing-loop', 'hard'],
  ['503 5.5.1 Error: need RCPT command', 'protocol-error', 'soft'],
  ['554 5.0.0 Transaction failed', 'unknown', 'hard'],
  ['451 4.4.1 No answer from host', 'connection-timeout', 'soft'],
];

function classifyText(text: string): ReturnType<typeof classify> {
  const parsed = parseExplainInput(text);
  assert.ok(parsed?.reply, `a reply in ${JSON.stringify(text)}`);
  return classify(parsed);
}

describe('classify: real-world replies', () => {
  it('has at least 60 of them', () => {
    assert.ok(REAL_WORLD.length >= 60, `${REAL_WORLD.length} rows`);
  });
  for (const [text, category, severity] of REAL_WORLD) {
    it(`${text.slice(0, 70).replace(/\n/g, ' ')} -> ${severity} ${category}`, () => {
      const v = classifyText(text);
      assert.equal(v.category, category, `rule ${v.rule}`);
      assert.equal(v.severity, severity, `rule ${v.rule}`);
      assert.equal(v.explanation, CATEGORIES.find((c) => c.key === category)?.explanation);
    });
  }
});

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

/** mulberry32: a small seeded PRNG so a failing fuzz case can be reproduced. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('classify and parseExplainInput: fuzz', () => {
  const corpus = [...REAL_WORLD.map((r) => r[0]), ...CATEGORIES.flatMap((c) => c.examples)];
  const alphabet =
    '0123456789....---   \n\r\t:;<>[]()\'"@_ESMTPECONNREFUSED5.1.1 450 user unknown \u00e9\u2019\u0000\ud800';

  it('never throws and always gives a valid verdict (seed 20240611)', () => {
    const rand = prng(20240611);
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
