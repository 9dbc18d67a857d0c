/**
 * The built-in failure classification rules (data only), evaluated in order by
 * classify.ts; the first rule whose matchers all match decides.
 *
 * A rule matches on any of: the reply text (case-insensitive regular expression,
 * written here from public knowledge of common provider replies), the RFC 3463
 * enhanced code (component prefix; a leading `X` means any class, `none` means the
 * reply carried no enhanced code), the reply code (digit prefix) and the local error
 * code (exact; a trailing `*` matches a prefix). `severity: 'hard'` means hard for a
 * 5xx reply or a replyless failure and soft for a 4xx reply; `soft` is always soft.
 *
 * Order, and why:
 *  1. local transport facts (DNS, connect, TLS, certificate, protocol): when the
 *     delivery engine records such a code, any reply with it is one it made up;
 *  2. provider texts: most specific first, since the text usually says more than
 *     the codes (and providers reuse codes: Microsoft's 5.1.10 is "recipient not
 *     found", RFC 7505's is null MX);
 *  3. enhanced codes (the RFC 3463 table is the backbone);
 *  4. session errors that came with a reply (greeting refused, AUTH);
 *  5. reply codes (RFC 5321), then the reply class: 5xx hard, other soft;
 *  6. remaining local codes, then `unknown`.
 * The regular expressions run on untrusted text: they are linear (no nested
 * quantifiers) and classify.ts caps the text length. No failure modes.
 */
import type { Severity } from '../contracts/events.ts';
import { CONNECTION_RESET_CODES } from '../contracts/status.ts';

export interface BuiltinRule {
  /** Stable name reported as `Verdict.rule`, e.g. `text:user-unknown`, `enhanced:X.1.1`. */
  readonly id: string;
  readonly category: string;
  readonly severity: Severity;
  readonly text?: RegExp;
  readonly enhanced?: string;
  readonly code?: string;
  readonly errorCodes?: readonly string[];
  /** What a rule with an error code needs besides it, in words (for docs/errors-faq.md). */
  readonly note?: string;
}

type Matchers = Pick<BuiltinRule, 'text' | 'enhanced' | 'code' | 'errorCodes' | 'note'>;

function rule(id: string, category: string, severity: Severity, matchers: Matchers): BuiltinRule {
  return Object.freeze({ id, category, severity, ...matchers });
}

const CERT_CODES = [
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_REVOKED',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'CERT_SIGNATURE_FAILURE',
  'CERT_CHAIN_TOO_LONG',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_DECRYPT_CERT_SIGNATURE',
  'INVALID_CA',
  'HOSTNAME_MISMATCH',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'ERR_TLS_CERT_ALTNAME_FORMAT',
];

const LOCAL_FACTS: readonly BuiltinRule[] = [
  rule('local:tls-certificate', 'certificate-error', 'soft', {
    errorCodes: ['TLS_FAILED'],
    note: 'when the error names the certificate',
    text: /certificate|self[- ]signed|altnames?\b|unable to (verify|get (local )?issuer)/i,
  }),
  rule('local:certificate', 'certificate-error', 'soft', { errorCodes: CERT_CODES }),
  rule('local:nxdomain', 'bad-domain', 'hard', { errorCodes: ['DNS_NXDOMAIN'] }),
  rule('local:null-mx', 'null-mx', 'hard', { errorCodes: ['DNS_NULL_MX'] }),
  rule('local:dns', 'dns-failure', 'soft', {
    errorCodes: [
      'DNS_*',
      'ENOTFOUND',
      'EAI_AGAIN',
      'EAI_FAIL',
      'EAI_NONAME',
      'ESERVFAIL',
      'ENODATA',
      'ETIMEOUT',
    ],
  }),
  rule('local:refused', 'connection-refused', 'soft', { errorCodes: ['ECONNREFUSED'] }),
  rule('local:timeout', 'connection-timeout', 'soft', { errorCodes: ['ETIMEDOUT', 'ESOCKETTIMEDOUT'] }),
  rule('local:unreachable', 'network-unreachable', 'soft', {
    errorCodes: ['EHOSTUNREACH', 'ENETUNREACH', 'EHOSTDOWN', 'ENETDOWN', 'EADDRNOTAVAIL', 'EAFNOSUPPORT'],
  }),
  rule('local:reset', 'connection-reset', 'soft', { errorCodes: CONNECTION_RESET_CODES }),
  rule('local:tls', 'tls-failure', 'soft', {
    errorCodes: ['TLS_FAILED', 'TLS_REQUIRED', 'EPROTO', 'ERR_SSL_*', 'ERR_TLS_*'],
  }),
  rule('local:protocol', 'protocol-error', 'soft', { errorCodes: ['PROTOCOL'] }),
  // mxpress's own failure while sending (the message could not be read, a bug): the
  // error code decides whatever reply stands next to it, as for the network errors.
  rule('local:mxpress', 'local-error', 'soft', { errorCodes: ['LOCAL'] }),
];

const TRY_LATER =
  /(try|retry|come back|resend) (again |this |it )?(later|in \d+ ?(s|sec|seconds|min|minutes)\b)|temporarily (rejected|refused|deferred)|deferred,? (please )?(try|retry)/i;

const PROVIDER_TEXTS: readonly BuiltinRule[] = [
  // Microsoft 365 directory-based edge blocking: the recipient is not in the directory.
  rule('text:m365-unknown-recipient', 'bad-mailbox', 'hard', {
    enhanced: 'X.4.1',
    text: /recipient address rejected: access denied/i,
  }),
  rule('text:exchange-recipient', 'bad-mailbox', 'hard', { text: /RESOLVER\.ADR\./i }),
  rule('text:exchange-restricted', 'spam-or-policy', 'hard', { text: /RESOLVER\.RST\./i }),
  rule('text:greylist', 'greylisting', 'soft', { text: /gr[ae]y-?list/i }),
  rule('text:too-many-recipients', 'too-many-recipients', 'soft', {
    text: /too many recipients|recipients? (limit|count)|(maximum|max\.?|allowed) (number of )?recipients/i,
  }),
  rule('text:rate-limit', 'rate-limited', 'soft', {
    text: /rate[- ]?limit|throttl|too many (connections|concurrent|simultaneous|sessions|messages|mails|emails|requests)|too much (mail|traffic)|unusual rate|at a rate that prevents|sending (quota|limit)|(daily|hourly) (user )?(sending )?(quota|limit)|(message|connection) rate|unexpected volume|\[TS[SM]\d+\]|mail flood|slow down/i,
  }),
  rule('text:url-blocklist', 'content-rejected', 'hard', {
    text: /\b(surbl|uribl)\b|(url|uri|link|domain)s? (in|of) (the |your )?(message|body|content)|(blocked|blacklisted|blocklisted|malicious|suspicious) (url|uri|link)/i,
  }),
  rule('text:blocklist', 'reputation-or-blocklist', 'soft', {
    text: /spamhaus|spamcop|barracuda|sorbs|\bdnsbls?\b|\brbls?\b|black ?list|block ?list|deny ?list|blocked using|listed (at|on|in|by) |reputation|banned sending ip|banned sender|not accepted from (this|your) ip|\bipcheck\b|\(S3140\)|\(S3150\)|dynamic(ally assigned)? (ip|address|range|pool)|residential|dial-?up|\bpbl\b/i,
  }),
  rule('text:ptr-helo', 'missing-ptr-or-helo', 'soft', {
    text: /reverse (dns|lookup|host ?name|address|name|mapping|record)|\br(ev)?dns\b|\bptr\b|cannot find your (reverse )?host ?name|(helo|ehlo)\b.{0,40}(reject|invalid|not (a )?(valid|fully)|fully[- ]qualified|fqdn|forged|bogus|does not resolve|must be)|fully[- ]qualified (host|domain) ?name|(bad|invalid) (helo|ehlo|hostname)/i,
  }),
  rule('text:spf-dkim-dmarc', 'sender-authentication', 'soft', {
    text: /\bspf\b|\bdkim\b|\bdmarc\b|sender policy framework|domainkeys|unauthenticated|not authenticated (by|via)|\barc\b|spoof/i,
  }),
  rule('text:tls', 'tls-failure', 'soft', {
    text: /starttls|\btls (is )?(required|not available|unavailable|handshake|negotiation)|encryption (is )?(required|needed)|requires? (tls|encryption|a secure connection)|secure connection (is )?required|unencrypted/i,
  }),
  rule('text:auth', 'auth-required', 'soft', {
    text: /authentication (is )?required|auth(entication)? (failed|unsuccessful|rejected|credentials)|credentials (invalid|rejected)|invalid (credentials|login|password|username)|username and password not accepted|(not|must be) (logged in|authenticated)|smtp auth(entication)? (is )?(required|disabled)|login (failed|required|denied)/i,
  }),
  rule('text:bad-sender', 'bad-sender', 'soft', {
    text: /sender address rejected|sender (domain|address) (not found|does not exist|must resolve|is invalid|unknown|rejected|is not a valid)|sender verify failed|(unverified|invalid|bad|unknown|illegal) sender|sender (rejected|unknown|invalid)|(mail from|return[- ]path|envelope sender).{0,30}(rejected|invalid|not (valid|allowed))|domain of sender address/i,
  }),
  rule('text:relay', 'relay-denied', 'hard', {
    text: /relay(ing)? (access )?(denied|not (permitted|allowed)|prohibited|refused|disabled)|(unable|not permitted|not allowed|cannot|can't) (to )?relay|we do not relay|no relaying/i,
  }),
  rule('text:virus-attachment', 'content-rejected', 'hard', {
    text: /virus|malware|infected|trojan|ransomware|phish|(prohibited|blocked|forbidden|banned|unsafe|dangerous|disallowed) (attachment|file|content|extension)|attachment.{0,40}(not (allowed|permitted|accepted)|blocked|prohibited|forbidden|rejected|banned)|executable|potential security issue/i,
  }),
  rule('text:malformed', 'malformed-message', 'hard', {
    text: /rfc ?(5322|2822|822)|not (rfc|standards?)[- ]compliant|malformed (message|mime|header|content|mail|email)|(missing|duplicate|multiple|invalid) .{0,20}headers?|headers? .{0,20}(missing|duplicated?|malformed|too (long|large|many))|line (is )?too long|bare (lf|line ?feeds?|newlines?|cr)\b/i,
  }),
  rule('text:encoding', 'encoding-unsupported', 'hard', {
    text: /8-?bit|smtputf8|utf-?8|non-ascii|international(ized)? (address|mail|email|domain)|charset|encoding (is )?(not|unsupported|error)|binarymime|mime conversion/i,
  }),
  rule('text:mailbox-full', 'mailbox-full', 'soft', {
    text: /(mailbox|inbox|mail ?folder|account|user|recipient)('s)? (storage |disk )?(is |are )?(full|over ?quota|out of (space|storage))|over ?quota|quota ?(exceeded|exceed|full|limit)|(exceeded|exceeds|reached|over) (its |the |his |her |their |your )?(storage|quota|mailbox size|disk)|mailbox size limit|storage allocation|mailbox.{0,30}(exceeded|over).{0,20}(quota|limit|storage|size)/i,
  }),
  rule('text:too-large', 'message-too-large', 'hard', {
    text: /(message|mail|email|attachment)s?( size)? (exceeds?|exceeded|over|is (too )?(big|large|long)|too (big|large|long))|(message|mail) size|size limit|(exceeds?|exceeded|over) (the )?(maximum|max|fixed|allowed|permitted|configured|size)|too (big|large) for|larger than (the )?(current |allowed )?(system |size )?limit|message length exceeds/i,
  }),
  rule('text:null-mx', 'null-mx', 'hard', {
    text: /null mx|does not accept (e-?)?mail|accepts? no (e-?)?mail/i,
  }),
  rule('text:loop', 'routing-loop', 'hard', {
    text: /\bloops?\b|too many hops|hop count|too many (received|"received") headers/i,
  }),
  rule('text:bad-domain', 'bad-domain', 'hard', {
    text: /domain (name )?(not found|does not exist|doesn't exist|is not valid|is invalid|unknown|not registered)|(no such|unknown|invalid|non-?existent|unrouteable|unroutable) (mail )?domain|host (or domain name )?not found|name or service not known|nxdomain|no mx (record|host)s?|(has|with) no (valid )?mx\b/i,
  }),
  rule('text:bad-mailbox', 'bad-mailbox', 'hard', {
    text: /(user|recipient|mailbox|address|account|addressee|e-?mail account) (is )?(unknown|not found|not known|does not exist|doesn't exist|invalid|disabled|deactivated|inactive|suspended|closed|terminated|unavailable|not available|not valid|no longer)|unknown (user|recipient|mailbox|address|local[- ]part)|no such (user|recipient|mailbox|address|account|person)|invalid (user|recipient|mailbox|address|account)|does not exist|doesn't exist|not a valid (user|recipient|mailbox|address)|(unrouteable|undeliverable|bad destination) (address|mailbox)|doesn't have an? .{1,40} account|(mailbox|user|account) (has been )?(disabled|deactivated|suspended|removed|deleted|expired)|no mailbox|recipient (rejected|not found)|user not local/i,
  }),
  rule('text:local-error', 'local-error', 'soft', {
    text: /local (error|problem)|internal (server )?error|temporary (local )?(problem|failure|error)|system (error|failure|problem)|server error/i,
  }),
  rule('text:server-busy', 'server-unavailable', 'soft', {
    text: /service (is )?(temporarily )?(unavailable|not available)|server (is )?(temporarily )?(busy|overloaded|unavailable)|too busy|(system|host) (is )?(overloaded|busy)|not accepting (mail|messages|connections|network messages)|shutting down|closing (transmission )?(channel|connection)|maintenance|resources? (temporarily )?unavailable/i,
  }),
  // "Try again later" is how greylisting usually reads when it does not say so.
  rule('text:try-later-policy', 'greylisting', 'soft', { code: '45', enhanced: 'X.7', text: TRY_LATER }),
  rule('text:try-later', 'greylisting', 'soft', { code: '45', enhanced: 'none', text: TRY_LATER }),
  rule('text:spam-or-policy', 'spam-or-policy', 'hard', {
    text: /\bspam|unsolicited|\bjunk\b|bulk (mail|email)|(message|mail|content|email) (was |has been )?(rejected|refused|blocked|denied)|blocked|polic(y|ies)|access denied|administrative(ly)? prohibit|not authori[sz]ed|prohibited|suspicious|fraud|\bscam|not allowed to send|refused to accept|\bdenied\b/i,
  }),
  // A 421 ends the session whatever its enhanced code says.
  rule('code:421', 'server-unavailable', 'soft', { code: '421' }),
];

/** RFC 3463 subject.detail (any class) and the category it implies; RFC 7505 X.1.10, RFC 7372 X.7.20-29. */
const ENHANCED: readonly (readonly [string, string, Severity])[] = [
  ['X.1.0', 'bad-mailbox', 'hard'],
  ['X.1.1', 'bad-mailbox', 'hard'],
  ['X.1.2', 'bad-domain', 'hard'],
  ['X.1.3', 'bad-mailbox', 'hard'],
  ['X.1.4', 'bad-mailbox', 'hard'],
  ['X.1.6', 'bad-mailbox', 'hard'],
  ['X.1.7', 'bad-sender', 'soft'],
  ['X.1.8', 'bad-sender', 'soft'],
  ['X.1.10', 'null-mx', 'hard'],
  ['X.2.1', 'bad-mailbox', 'hard'],
  ['X.2.2', 'mailbox-full', 'soft'],
  ['X.2.3', 'message-too-large', 'hard'],
  ['X.2.4', 'local-error', 'soft'],
  ['X.3.0', 'local-error', 'soft'],
  ['X.3.1', 'server-unavailable', 'soft'],
  ['X.3.2', 'server-unavailable', 'soft'],
  ['X.3.3', 'protocol-error', 'soft'],
  ['X.3.4', 'message-too-large', 'hard'],
  ['X.3.5', 'local-error', 'soft'],
  ['X.4.1', 'connection-timeout', 'soft'],
  ['X.4.2', 'connection-reset', 'soft'],
  ['X.4.3', 'dns-failure', 'soft'],
  ['X.4.4', 'bad-domain', 'hard'],
  ['X.4.5', 'server-unavailable', 'soft'],
  ['X.4.6', 'routing-loop', 'hard'],
  ['X.5.3', 'too-many-recipients', 'soft'],
  ['X.5.6', 'auth-required', 'soft'],
  ['X.5', 'protocol-error', 'soft'],
  ['X.6', 'encoding-unsupported', 'hard'],
  ['X.7.4', 'tls-failure', 'soft'],
  ['X.7.5', 'tls-failure', 'soft'],
  ['X.7.6', 'tls-failure', 'soft'],
  ['X.7.7', 'content-rejected', 'hard'],
  ['X.7.8', 'auth-required', 'soft'],
  ['X.7.9', 'auth-required', 'soft'],
  ['X.7.10', 'tls-failure', 'soft'],
  ['X.7.11', 'tls-failure', 'soft'],
  ['X.7.12', 'auth-required', 'soft'],
  ['X.7.13', 'auth-required', 'soft'],
  ['X.7.14', 'auth-required', 'soft'],
  ['X.7.20', 'sender-authentication', 'soft'],
  ['X.7.21', 'sender-authentication', 'soft'],
  ['X.7.22', 'sender-authentication', 'soft'],
  ['X.7.23', 'sender-authentication', 'soft'],
  ['X.7.24', 'sender-authentication', 'soft'],
  ['X.7.25', 'missing-ptr-or-helo', 'soft'],
  ['X.7.26', 'sender-authentication', 'soft'],
  ['X.7.27', 'bad-sender', 'soft'],
  ['X.7.28', 'rate-limited', 'soft'],
  ['X.7.29', 'sender-authentication', 'soft'],
  ['X.7.30', 'tls-failure', 'soft'],
  ['X.7', 'spam-or-policy', 'hard'],
];

const SESSION: readonly BuiltinRule[] = [
  rule('local:greeting-deferred', 'server-unavailable', 'soft', {
    errorCodes: ['GREETING_REJECTED'],
    code: '4',
    note: 'with a 4xx greeting',
  }),
  // Refused before any mail was named: the refusal is about the connecting IP.
  rule('local:greeting-refused', 'reputation-or-blocklist', 'soft', { errorCodes: ['GREETING_REJECTED'] }),
  rule('local:auth', 'auth-required', 'soft', { errorCodes: ['AUTH_FAILED', 'AUTH_UNAVAILABLE'] }),
  rule('local:closed', 'connection-reset', 'soft', { errorCodes: ['CLOSED'] }),
];

/** RFC 5321 4.2 reply codes that say something without an enhanced code. */
const CODES: readonly (readonly [string, string, Severity])[] = [
  ['451', 'local-error', 'soft'],
  ['452', 'server-unavailable', 'soft'],
  ['454', 'tls-failure', 'soft'],
  ['50', 'protocol-error', 'soft'],
  ['555', 'protocol-error', 'soft'],
  ['521', 'null-mx', 'hard'],
  ['556', 'null-mx', 'hard'],
  ['53', 'auth-required', 'soft'],
  ['551', 'bad-mailbox', 'hard'],
  ['552', 'mailbox-full', 'soft'],
  ['553', 'bad-mailbox', 'hard'],
  ['5', 'unknown', 'hard'],
  ['', 'unknown', 'soft'],
];

const LOCAL_OTHER: readonly BuiltinRule[] = [
  rule('local:internal', 'local-error', 'soft', {
    errorCodes: ['INTERNAL', 'SPOOL_*', 'BUSY', 'INVALID', 'REJECTED', 'NOT_FOUND'],
  }),
];

function codeRuleId(code: string): string {
  if (code === '') return 'class:any';
  if (code.length === 1) return `class:${code}xx`;
  return `code:${code.padEnd(3, 'x')}`;
}

export const BUILTIN_RULES: readonly BuiltinRule[] = Object.freeze([
  ...LOCAL_FACTS,
  ...PROVIDER_TEXTS,
  ...ENHANCED.map(([enhanced, category, severity]) =>
    rule(`enhanced:${enhanced}`, category, severity, { enhanced }),
  ),
  ...SESSION,
  ...CODES.map(([code, category, severity]) => rule(codeRuleId(code), category, severity, { code })),
  ...LOCAL_OTHER,
]);

/** Local error codes a built-in rule names (exact ones; prefixes like `DNS_*` are left out). */
export function knownErrorCodes(): string[] {
  const codes = new Set<string>();
  for (const r of BUILTIN_RULES) for (const c of r.errorCodes ?? []) if (!c.endsWith('*')) codes.add(c);
  return [...codes];
}
