/**
 * Failure classification: what a delivery failure means and what to do about it.
 *
 * `classify({ reply, errorCode }, overrides)` turns a remote SMTP reply and/or a
 * local error code (ECONNREFUSED, DNS_NXDOMAIN, TLS_FAILED, CERT_HAS_EXPIRED, ...)
 * into a severity (hard: retrying or re-sending will not help; soft: it may), a
 * stable category and a plain-language explanation. Configured rules
 * (`feedback.classification`) are tried first, then the built-in rules of
 * classify-rules.ts, in order; the first match wins and `rule` names it.
 * `parseExplainInput(text)` finds a reply or an error code in text a person pasted
 * (a bounce, a log line, a node error message) for `mxpress explain`.
 *
 * Both take UNTRUSTED input (remote reply text, pasted text): inputs are checked and
 * capped in length, and neither function throws, whatever it is given. A configured
 * regular expression that does not compile is ignored.
 */
import type { ClassificationRule } from '../config/types.ts';
import type { Classification, Severity } from '../contracts/events.ts';
import type { SmtpReply } from '../contracts/status.ts';
import { BUILTIN_RULES, type BuiltinRule, knownErrorCodes } from './classify-rules.ts';
import { categoryInfo, type Explanation } from './explanations.ts';

export { CATEGORIES, type CategoryInfo, type Explanation } from './explanations.ts';

export interface Verdict extends Classification {
  readonly explanation: Explanation;
  /** Which rule matched, for debugging: `override:0`, `text:user-unknown`, `enhanced:X.1.1`, ... */
  readonly rule: string;
}

export interface ClassifyInput {
  readonly reply?: SmtpReply;
  readonly errorCode?: string;
}

/** Longest reply text looked at; provider texts that matter are far shorter. */
const MAX_TEXT = 4096;
/** Longest pasted text `parseExplainInput` reads. */
const MAX_INPUT = 65_536;
const ENHANCED = /^([245])\.(\d{1,3})\.(\d{1,3})$/;

/** The input reduced to checked, bounded values. */
interface Facts {
  readonly code?: number;
  readonly enhanced?: readonly [string, string, string];
  readonly text: string;
  readonly errorCode?: string;
}

interface Matchers {
  readonly text?: RegExp | null;
  readonly enhanced?: string;
  readonly code?: string;
  readonly errorCodes?: readonly string[];
}

function facts(input: ClassifyInput | undefined): Facts {
  const reply = typeof input === 'object' && input !== null ? input.reply : undefined;
  const rawCode = typeof reply === 'object' && reply !== null ? reply.code : undefined;
  const code =
    typeof rawCode === 'number' && Number.isInteger(rawCode) && rawCode >= 200 && rawCode <= 599
      ? rawCode
      : undefined;
  const rawEnhanced = code === undefined ? undefined : reply?.enhanced;
  const parts = typeof rawEnhanced === 'string' ? ENHANCED.exec(rawEnhanced.trim()) : null;
  const rawText = code === undefined ? undefined : reply?.text;
  const text =
    typeof rawText === 'string'
      ? rawText
          .slice(0, MAX_TEXT)
          .replace(/\s+/g, ' ')
          .replace(/[\u2018\u2019]/g, "'")
      : '';
  const rawError = typeof input === 'object' && input !== null ? input.errorCode : undefined;
  const errorCode =
    typeof rawError === 'string' && rawError.trim() !== ''
      ? rawError.trim().slice(0, 100).toUpperCase()
      : undefined;
  return {
    text,
    ...(code === undefined ? {} : { code }),
    ...(parts ? { enhanced: [parts[1]!, parts[2]!, parts[3]!] as const } : {}),
    ...(errorCode === undefined ? {} : { errorCode }),
  };
}

/** `5.7.1`, `4.7`, `X.1.1` (any class) match component by component; `none`: no enhanced code. */
function enhancedMatches(pattern: string, f: Facts): boolean {
  if (pattern.toLowerCase() === 'none') return f.enhanced === undefined;
  if (f.enhanced === undefined) return false;
  if (pattern === '') return true;
  const want = pattern.split('.');
  if (want.length > 3) return false;
  return want.every((w, i) => w === 'X' || w === 'x' || w === '*' || w === f.enhanced?.[i]);
}

function errorCodeMatches(patterns: readonly string[], f: Facts): boolean {
  const code = f.errorCode;
  if (code === undefined) return false;
  return patterns.some((p) => {
    const upper = String(p).toUpperCase();
    return upper.endsWith('*') ? code.startsWith(upper.slice(0, -1)) : code === upper;
  });
}

function matches(m: Matchers, f: Facts): boolean {
  if (m.errorCodes !== undefined && !errorCodeMatches(m.errorCodes, f)) return false;
  if (m.code !== undefined && (f.code === undefined || !String(f.code).startsWith(m.code))) return false;
  if (m.enhanced !== undefined && !enhancedMatches(m.enhanced, f)) return false;
  if (m.text !== undefined && (m.text === null || f.code === undefined || !m.text.test(f.text))) return false;
  return true;
}

const compiled = new WeakMap<object, Matchers | null>();

/** A configured rule as matchers; null when it cannot be used (no matcher, bad regex, bad severity). */
function overrideMatchers(rule: ClassificationRule): Matchers | null {
  const cached = compiled.get(rule);
  if (cached !== undefined) return cached;
  let result: Matchers | null = null;
  const okVerdict =
    (rule.severity === 'hard' || rule.severity === 'soft') &&
    typeof rule.category === 'string' &&
    rule.category !== '';
  const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
  const text = str(rule.text);
  const enhanced = str(rule.enhanced);
  const code = str(rule.code);
  const errorCode = str(rule.errorCode);
  if (okVerdict && [text, enhanced, code, errorCode].some((v) => v !== undefined)) {
    let regex: RegExp | null | undefined;
    if (text !== undefined) {
      try {
        regex = new RegExp(text, 'i');
      } catch {
        regex = null;
      }
    }
    result = {
      ...(regex === undefined ? {} : { text: regex }),
      ...(enhanced === undefined ? {} : { enhanced }),
      ...(code === undefined ? {} : { code }),
      ...(errorCode === undefined ? {} : { errorCodes: [errorCode] }),
    };
  }
  compiled.set(rule, result);
  return result;
}

function explain(category: string): Explanation {
  const info = categoryInfo(category);
  if (info !== undefined) return info.explanation;
  return {
    title: `Configured category "${category}"`,
    cause: `A rule under feedback.classification in the configuration put this failure in "${category}".`,
    action: 'See the rule and the full reply text; the configuration decides what this category means.',
  };
}

function verdict(severity: Severity, category: string, rule: string): Verdict {
  return { severity, category, explanation: explain(category), rule };
}

function builtinSeverity(rule: BuiltinRule, f: Facts): Severity {
  if (rule.severity === 'soft') return 'soft';
  return f.code !== undefined && f.code < 500 ? 'soft' : 'hard';
}

/** Classifies a failure; never throws. Overrides come first, then the built-in rules. */
export function classify(input: ClassifyInput, overrides?: readonly ClassificationRule[]): Verdict {
  try {
    const f = facts(input);
    if (Array.isArray(overrides)) {
      for (const [i, rule] of overrides.slice(0, 1000).entries()) {
        if (typeof rule !== 'object' || rule === null) continue;
        const m = overrideMatchers(rule);
        if (m !== null && matches(m, f)) return verdict(rule.severity, rule.category, `override:${i}`);
      }
    }
    for (const rule of BUILTIN_RULES) {
      if (matches(rule, f)) return verdict(builtinSeverity(rule, f), rule.category, rule.id);
    }
    return verdict('soft', 'unknown', 'fallback');
  } catch {
    // Unreachable by design (the fuzz test checks); a bug here must not stop delivery.
    return verdict('soft', 'unknown', 'error');
  }
}

// ---- parsing pasted text --------------------------------------------------------

/** Codes that are also ordinary English words: taken only alone or as "CODE during phase". */
const WORDLIKE = new Set([
  'CLOSED',
  'PROTOCOL',
  'REJECTED',
  'BUSY',
  'INVALID',
  'INTERNAL',
  'NOT_FOUND',
  'LOCAL',
]);
const CODE_TOKEN = new RegExp(
  `\\b(${knownErrorCodes()
    .filter((c) => !WORDLIKE.has(c))
    .sort((a, b) => b.length - a.length)
    .join('|')}|DNS_[A-Z_]+|ERR_(?:SSL|TLS)_[A-Z0-9_]+|SPOOL_[A-Z_]+|EAI_[A-Z]+)\\b`,
);
const WORDLIKE_TOKEN = /^([A-Z_]+) during \w/;
const LONE_TOKEN = /^[A-Za-z][A-Za-z0-9_]{2,63}$/;

/** Node's certificate messages without their code. */
const CERT_MESSAGES: readonly (readonly [RegExp, string])[] = [
  [/certificate has expired/i, 'CERT_HAS_EXPIRED'],
  [/certificate is not yet valid/i, 'CERT_NOT_YET_VALID'],
  [/self[- ]signed certificate in certificate chain/i, 'SELF_SIGNED_CERT_IN_CHAIN'],
  [/self[- ]signed certificate/i, 'DEPTH_ZERO_SELF_SIGNED_CERT'],
  [/unable to verify (the first certificate|leaf signature)/i, 'UNABLE_TO_VERIFY_LEAF_SIGNATURE'],
  [/unable to get local issuer certificate/i, 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY'],
  [/certificate'?s altnames|altname/i, 'ERR_TLS_CERT_ALTNAME_INVALID'],
];

/** Node and OS messages without their code, most specific first. */
const MESSAGES: readonly (readonly [RegExp, string])[] = [
  ...CERT_MESSAGES,
  [/connection refused/i, 'ECONNREFUSED'],
  [/network is unreachable/i, 'ENETUNREACH'],
  [/no route to host|host is unreachable/i, 'EHOSTUNREACH'],
  [/connection reset|reset by peer|socket hang ?up/i, 'ECONNRESET'],
  [/broken pipe/i, 'EPIPE'],
  [/timed out|time ?out/i, 'ETIMEDOUT'],
  [/name or service not known|could not resolve host|no such host/i, 'ENOTFOUND'],
  [/servfail/i, 'DNS_SERVFAIL'],
  [/wrong version number|handshake failure|ssl routines|tls handshake/i, 'TLS_FAILED'],
];

const REPLY_CODE = /(?:^|[\s'"(<[=:#])([2-5][0-5][0-9])(?=[ \t-]|$)/;
const ENHANCED_IN_TEXT = /(?:^|[\s'"(<[=:#])([245])\.(\d{1,3})\.(\d{1,3})(?=$|[\s;:,)'"\]]|\.(?:\s|$))/;
const LEADING_ENHANCED = /^([245])\.(\d{1,3})\.(\d{1,3})(?=$|[\s;:,)'"\]]|\.(?:\s|$))/;

function findErrorCode(input: string, replyFound: boolean): string | undefined {
  const trimmed = input.trim();
  const upper = trimmed.toUpperCase();
  const token = CODE_TOKEN.exec(input);
  if (token?.[1] === 'TLS_FAILED') {
    // "TLS_FAILED during starttls: ... certificate has expired": the certificate says more.
    const cert = CERT_MESSAGES.find(([pattern]) => pattern.test(input));
    if (cert) return cert[1];
  }
  if (token) return token[1];
  const wordlike = WORDLIKE_TOKEN.exec(trimmed);
  if (wordlike && WORDLIKE.has(wordlike[1]!)) return wordlike[1];
  if (LONE_TOKEN.test(trimmed)) {
    if (CODE_TOKEN.test(upper) || WORDLIKE.has(upper)) return upper;
    if (trimmed === upper && (/^E[A-Z]{3,}$/.test(upper) || upper.includes('_'))) return upper;
  }
  if (replyFound) return undefined;
  for (const [pattern, code] of MESSAGES) if (pattern.test(input)) return code;
  return undefined;
}

/** Removes one reply-line prefix (`550-`, `550 5.1.1 `) of the given code from a continuation line. */
function continuation(line: string, code: string): string | undefined {
  const t = line.trimStart();
  if (!t.startsWith(code)) return undefined;
  const rest = t.slice(3);
  if (rest !== '' && rest[0] !== ' ' && rest[0] !== '-') return undefined;
  const body = rest.slice(1);
  const e = LEADING_ENHANCED.exec(body);
  return (e && e[1] === code[0] ? body.slice(e[0].length) : body).trim();
}

function findReply(lines: readonly string[]): SmtpReply | undefined {
  for (const [i, line] of lines.entries()) {
    const m = REPLY_CODE.exec(line);
    if (!m) continue;
    const code = m[1]!;
    const opener = m[0][0];
    let rest = line.slice(m.index + m[0].length + 1);
    const e = LEADING_ENHANCED.exec(rest);
    let enhanced: string | undefined;
    if (e && e[1] === code[0]) {
      enhanced = `${e[1]}.${Number(e[2])}.${Number(e[3])}`;
      rest = rest.slice(e[0].length);
    }
    const parts = [rest.trim()];
    for (const next of lines.slice(i + 1)) {
      const more = continuation(next, code);
      if (more === undefined) break;
      parts.push(more);
    }
    let text = parts.join('\n').trim();
    if ((opener === "'" || opener === '"') && text.endsWith(opener)) text = text.slice(0, -1).trimEnd();
    return { code: Number(code), ...(enhanced ? { enhanced } : {}), text: text.slice(0, MAX_TEXT) };
  }
  // No reply code: an enhanced status code alone ("Status: 5.1.1") stands for a reply of its class.
  for (const line of lines) {
    const m = ENHANCED_IN_TEXT.exec(line);
    if (!m) continue;
    const text = line.slice(m.index + m[0].length).trim();
    return {
      code: Number(m[1]) * 100 + 50,
      enhanced: `${m[1]}.${Number(m[2])}.${Number(m[3])}`,
      text: text.slice(0, MAX_TEXT),
    };
  }
  return undefined;
}

/**
 * Finds an SMTP reply ("550 5.1.1 User unknown", a multi-line "452-4.2.2 ...") and/or
 * a local error code ("ECONNREFUSED", "connect ETIMEDOUT 192.0.2.1:25", "Error:
 * certificate has expired") in pasted text. Undefined when there is neither.
 */
export function parseExplainInput(text: string): ClassifyInput | undefined {
  if (typeof text !== 'string') return undefined;
  const input = text.slice(0, MAX_INPUT);
  const lines = input.split(/\r\n|\r|\n/).slice(0, 1000);
  const reply = findReply(lines);
  const errorCode = findErrorCode(input, reply !== undefined);
  if (reply === undefined && errorCode === undefined) return undefined;
  return { ...(reply ? { reply } : {}), ...(errorCode ? { errorCode } : {}) };
}
