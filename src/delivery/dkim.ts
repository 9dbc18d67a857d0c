/**
 * DKIM signing of outgoing messages, done by the `mailauth` library (we only pick
 * the key and prepend what it returns).
 *
 * In: the configured keys (domain, selector, PEM private key, optional algorithm and
 * header list), then per message the bytes and the envelope sender's domain. The key
 * is chosen by the From header's domain, else by the sender's domain; a subdomain
 * without its own key uses its parent's (news.example.com -> example.com). Every key
 * configured for the chosen domain signs (e.g. RSA and Ed25519 side by side).
 * Out: the message with the DKIM-Signature field(s) prepended; the same bytes when no
 * key matches or mailauth could not sign (no From field, say): then `onError` hears
 * why, and the message goes out unsigned rather than being held back.
 *
 * Fails: `createDkimSigner` throws a TypeError for a bad key (unreadable PEM, not RSA
 * or Ed25519, RSA under 1024 bits, algorithm that does not fit the key, bad domain or
 * selector): configuration errors surface at start, not per message. The message is
 * UNTRUSTED; its From field is only read to choose a key, through scanHeaders' limits.
 * Signing hashes the whole body on the calling thread.
 */
import { createPrivateKey } from 'node:crypto';
import { domainToASCII } from 'node:url';
import { dkimSign } from 'mailauth/lib/dkim/sign.js';
import { scanHeaders } from '../protocol/header-scan.ts';

export type DkimAlgorithm = 'rsa-sha256' | 'ed25519-sha256';

export interface DkimKey {
  readonly domain: string;
  readonly selector: string;
  readonly privateKeyPem: string;
  /** Defaults to what the key is: rsa-sha256 for RSA, ed25519-sha256 for Ed25519. */
  readonly algorithm?: DkimAlgorithm;
  /** Header fields to sign; mailauth's default set when absent (From is always required). */
  readonly headers?: string[];
}

export interface DkimSigner {
  sign(message: Uint8Array, senderDomain: string): Promise<Uint8Array>;
}

export interface DkimSignerOptions {
  /** Told when a matching key could not sign a message (which then goes out unsigned). */
  readonly onError?: (error: Error, domain: string) => void;
}

interface PreparedKey {
  readonly selector: string;
  readonly privateKey: string;
  readonly algorithm: DkimAlgorithm;
  readonly headers?: string[];
}

const SELECTOR =
  /^[A-Za-z0-9](?:[A-Za-z0-9_-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9_-]*[A-Za-z0-9])?)*$/;
const MAX_KEYS = 1000;

export function createDkimSigner(keys: readonly DkimKey[], options: DkimSignerOptions = {}): DkimSigner {
  if (keys.length > MAX_KEYS) throw new TypeError(`dkim: at most ${MAX_KEYS} keys`);
  const byDomain = new Map<string, PreparedKey[]>();
  for (const key of keys) {
    const domain = asciiDomain(key.domain);
    if (!domain) throw new TypeError(`dkim: invalid signing domain ${JSON.stringify(key.domain)}`);
    const list = byDomain.get(domain) ?? [];
    list.push(prepareKey(key, domain));
    byDomain.set(domain, list);
  }

  const pick = (domain: string | undefined): [string, PreparedKey[]] | undefined => {
    let name = domain === undefined ? '' : asciiDomain(domain);
    while (name) {
      const found = byDomain.get(name);
      if (found) return [name, found];
      const parent = name.slice(name.indexOf('.') + 1);
      // Walk up to the parent, but never to a bare top-level name.
      name = name.includes('.') && parent.includes('.') ? parent : '';
    }
    return undefined;
  };

  return {
    async sign(message, senderDomain) {
      if (byDomain.size === 0) return message;
      const bytes = Buffer.from(message.buffer, message.byteOffset, message.byteLength);
      const chosen = pick(fromDomain(bytes)) ?? pick(senderDomain);
      if (!chosen) return message;
      const [domain, prepared] = chosen;
      const signatureData = prepared.map((k) => ({
        signingDomain: domain,
        selector: k.selector,
        privateKey: k.privateKey,
        algorithm: k.algorithm,
        ...(k.headers ? { headerList: k.headers } : {}),
      }));
      const first = signatureData[0]!;
      const result = await dkimSign(bytes, {
        // mailauth reads `signatureData`; its typings also want the first key at the top.
        ...first,
        canonicalization: 'relaxed/relaxed',
        signatureData,
        strict: true,
      });
      for (const failure of result.errors) options.onError?.(failure.err, domain);
      if (!result.signatures) return message;
      return Buffer.concat([Buffer.from(result.signatures, 'utf8'), bytes]);
    },
  };
}

function prepareKey(key: DkimKey, domain: string): PreparedKey {
  if (!SELECTOR.test(key.selector) || key.selector.length > 253) {
    throw new TypeError(`dkim: invalid selector ${JSON.stringify(key.selector)} for ${domain}`);
  }
  let type: string | undefined;
  let bits = 0;
  try {
    const parsed = createPrivateKey(key.privateKeyPem);
    type = parsed.asymmetricKeyType;
    bits = parsed.asymmetricKeyDetails?.modulusLength ?? 0;
  } catch (error) {
    throw new TypeError(
      `dkim: the private key for ${key.selector}._domainkey.${domain} is not a readable PEM key`,
      {
        cause: error,
      },
    );
  }
  const natural: DkimAlgorithm | undefined =
    type === 'rsa' ? 'rsa-sha256' : type === 'ed25519' ? 'ed25519-sha256' : undefined;
  if (!natural) throw new TypeError(`dkim: ${domain} key must be RSA or Ed25519, not ${type ?? 'unknown'}`);
  if (key.algorithm !== undefined && key.algorithm !== natural) {
    throw new TypeError(`dkim: algorithm ${key.algorithm} does not fit the ${type} key for ${domain}`);
  }
  if (type === 'rsa' && bits < 1024)
    throw new TypeError(`dkim: RSA key for ${domain} has ${bits} bits (< 1024)`);
  return {
    selector: key.selector,
    privateKey: key.privateKeyPem,
    algorithm: natural,
    ...(key.headers ? { headers: [...key.headers] } : {}),
  };
}

/** Lower-case A-label form without trailing dot; '' when it is not a domain. */
function asciiDomain(domain: string): string {
  const trimmed = domain.trim().replace(/\.$/, '');
  if (trimmed === '' || /[\s@[\]]/.test(trimmed)) return '';
  return domainToASCII(trimmed).toLowerCase();
}

/** The domain of the (first) address in the From field, if one can be found. */
export function fromDomain(message: Buffer): string | undefined {
  const from = scanHeaders(message).fields.from;
  if (!from) return undefined;
  // Drop quoted strings and comments: display names may contain "@" or "<".
  const plain = from.replace(/"(?:[^"\\]|\\.)*"/g, '""').replace(/\((?:[^()\\]|\\.)*\)/g, ' ');
  const angle = /<([^<>]*)>/.exec(plain);
  const address = angle ? angle[1]! : (plain.split(/[\s,;]+/).find((t) => t.includes('@')) ?? '');
  const at = address.lastIndexOf('@');
  if (at < 0) return undefined;
  const domain = address
    .slice(at + 1)
    .trim()
    .replace(/[>;,]+$/, '');
  return domain === '' ? undefined : domain;
}
