/**
 * Table-driven tests for classify.ts with real-world replies: texts seen from large
 * providers and common MTAs (Gmail, Microsoft, Yahoo, iCloud, Postfix, Exim, Sendmail,
 * qmail, filtering gateways), pasted as a bounce or log shows them, parsed with
 * parseExplainInput and classified with the built-in rules. Pure; no I/O.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CATEGORIES, classify, parseExplainInput } from './classify.ts';

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
