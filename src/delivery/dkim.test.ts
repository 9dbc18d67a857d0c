import assert from 'node:assert/strict';
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { dkimVerify } from 'mailauth/lib/dkim/verify.js';
import { type DnsServer, startDnsServer } from '../../test/harness/dns-server.ts';
import { createDkimSigner, fromDomain } from './dkim.ts';
import { createResolver } from './dns/resolver.ts';

function rsaKey(bits = 2048): { pem: string; txt: string } {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: bits });
  return { pem: pemOf(privateKey), txt: `v=DKIM1; k=rsa; p=${spki(publicKey)}` };
}

function ed25519Key(): { pem: string; txt: string } {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  // RFC 8463: p= is the raw 32-byte public key, the tail of the SPKI DER.
  const raw = publicKey.export({ type: 'spki', format: 'der' }).subarray(-32);
  return { pem: pemOf(privateKey), txt: `v=DKIM1; k=ed25519; p=${raw.toString('base64')}` };
}

function pemOf(key: KeyObject): string {
  return key.export({ type: 'pkcs8', format: 'pem' }).toString();
}

function spki(key: KeyObject): string {
  return key.export({ type: 'spki', format: 'der' }).toString('base64');
}

const RSA = rsaKey();
const RSA_OTHER = rsaKey();
const ED = ed25519Key();

/** TXT records served from memory to mailauth, in the `dns.promises.resolve` shape. */
function memoryResolver(records: Record<string, string>) {
  const asked: string[] = [];
  const resolver = async (name: string, type: string): Promise<string[][]> => {
    asked.push(`${name} ${type}`);
    const txt = records[name.toLowerCase()];
    if (type !== 'TXT' || txt === undefined)
      throw Object.assign(new Error(`no ${type} for ${name}`), { code: 'ENOTFOUND' });
    return [[txt]];
  };
  return { resolver, asked };
}

function message(from: string, extra = ''): Buffer {
  return Buffer.from(
    `From: ${from}\r\nTo: bob@example.org\r\nSubject: Report\r\nDate: Thu, 1 Jan 2026 00:00:00 +0000\r\nMessage-ID: <m1@example.com>\r\n${extra}\r\nHello Bob,\r\nthe report is attached.\r\n`,
  );
}

async function verify(signed: Uint8Array, records: Record<string, string>) {
  const { resolver } = memoryResolver(records);
  const result = await dkimVerify(Buffer.from(signed), { resolver });
  return result.results.map((r) => ({
    result: r.status.result,
    domain: r.signingDomain,
    selector: r.selector,
  }));
}

describe('createDkimSigner', () => {
  const records = {
    'mx1._domainkey.example.com': RSA.txt,
    'ed1._domainkey.example.com': ED.txt,
    'mx1._domainkey.other.example': RSA_OTHER.txt,
  };

  it('signs with the key of the From domain, and the signature verifies', async () => {
    const signer = createDkimSigner([{ domain: 'example.com', selector: 'mx1', privateKeyPem: RSA.pem }]);
    const original = message('Alice <alice@example.com>');
    const signed = await signer.sign(original, 'bounces.example.net');
    const text = Buffer.from(signed).toString();
    assert.match(text, /^DKIM-Signature: [\s\S]*\bd=example\.com;/);
    assert.ok(
      Buffer.from(signed)
        .subarray(signed.length - original.length)
        .equals(original),
      'original follows',
    );
    assert.deepEqual(await verify(signed, records), [
      { result: 'pass', domain: 'example.com', selector: 'mx1' },
    ]);
  });

  it('detects tampering (the verification is real)', async () => {
    const signer = createDkimSigner([{ domain: 'example.com', selector: 'mx1', privateKeyPem: RSA.pem }]);
    const signed = Buffer.from(await signer.sign(message('alice@example.com'), ''));
    const tampered = Buffer.from(
      signed.toString().replace('the report is attached', 'the report is attacked'),
    );
    // A changed body fails the body hash, which mailauth reports as `neutral`.
    assert.deepEqual(await verify(tampered, records), [
      { result: 'neutral', domain: 'example.com', selector: 'mx1' },
    ]);
    const wrongKey = await verify(signed, { 'mx1._domainkey.example.com': RSA_OTHER.txt });
    assert.equal(wrongKey[0]?.result, 'fail');
  });

  it('lets a subdomain use its parent key, and prefers the From domain to the sender domain', async () => {
    const signer = createDkimSigner([
      { domain: 'example.com', selector: 'mx1', privateKeyPem: RSA.pem },
      { domain: 'other.example', selector: 'mx1', privateKeyPem: RSA_OTHER.pem },
    ]);
    const fromSub = await signer.sign(
      message('"News, <news@other.example>" <news@news.example.com>'),
      'other.example',
    );
    assert.deepEqual(await verify(fromSub, records), [
      { result: 'pass', domain: 'example.com', selector: 'mx1' },
    ]);
  });

  it('falls back to the envelope sender domain when the From domain has no key', async () => {
    const signer = createDkimSigner([
      { domain: 'other.example', selector: 'mx1', privateKeyPem: RSA_OTHER.pem },
    ]);
    const signed = await signer.sign(message('someone@unrelated.test'), 'Bounces.Other.Example');
    assert.deepEqual(await verify(signed, records), [
      { result: 'pass', domain: 'other.example', selector: 'mx1' },
    ]);
  });

  it('returns the message unchanged when no key matches (and never walks up to a top-level name)', async () => {
    const signer = createDkimSigner([
      { domain: 'example.com', selector: 'mx1', privateKeyPem: RSA.pem },
      { domain: 'com', selector: 'mx1', privateKeyPem: RSA.pem },
    ]);
    const original = message('alice@elsewhere.com');
    assert.equal(await signer.sign(original, 'mailer.elsewhere.com'), original);
    assert.equal(await createDkimSigner([]).sign(original, 'example.com'), original);
  });

  it('signs with every key of the domain (RSA and Ed25519 side by side)', async () => {
    const signer = createDkimSigner([
      { domain: 'example.com', selector: 'mx1', privateKeyPem: RSA.pem },
      { domain: 'example.com', selector: 'ed1', privateKeyPem: ED.pem, algorithm: 'ed25519-sha256' },
    ]);
    const results = await verify(await signer.sign(message('alice@example.com'), ''), records);
    assert.deepEqual(
      results.sort((a, b) => a.selector!.localeCompare(b.selector!)),
      [
        { result: 'pass', domain: 'example.com', selector: 'ed1' },
        { result: 'pass', domain: 'example.com', selector: 'mx1' },
      ],
    );
  });

  it('signs the configured header list', async () => {
    const signer = createDkimSigner([
      { domain: 'example.com', selector: 'mx1', privateKeyPem: RSA.pem, headers: ['From', 'Subject'] },
    ]);
    const signed = Buffer.from(await signer.sign(message('alice@example.com'), '')).toString();
    const h = /\bh=([^;]+);/.exec(signed.replace(/\r\n\s+/g, ''))?.[1];
    const signedNames = (h ?? '')
      .split(':')
      .map((name) => name.trim().toLowerCase())
      .sort();
    assert.deepEqual(signedNames, ['from', 'subject']);
    assert.equal((await verify(Buffer.from(signed), records))[0]?.result, 'pass');
  });

  it('sends a message without From unsigned and says why', async () => {
    const errors: string[] = [];
    const signer = createDkimSigner([{ domain: 'example.com', selector: 'mx1', privateKeyPem: RSA.pem }], {
      onError: (error, domain) => errors.push(`${domain}: ${(error as Error & { code?: string }).code}`),
    });
    const noFrom = Buffer.from('To: bob@example.org\r\nSubject: x\r\n\r\nbody\r\n');
    assert.equal(await signer.sign(noFrom, 'example.com'), noFrom);
    assert.deepEqual(errors, ['example.com: ENOFROM']);
  });

  it('refuses bad keys at construction', () => {
    const bad = [
      { domain: 'example.com', selector: 'mx1', privateKeyPem: 'not a key' },
      { domain: 'example.com', selector: 'mx1', privateKeyPem: rsaKey(512).pem },
      {
        domain: 'example.com',
        selector: 'mx1',
        privateKeyPem: RSA.pem,
        algorithm: 'ed25519-sha256' as const,
      },
      { domain: 'example.com', selector: 'bad selector', privateKeyPem: RSA.pem },
      { domain: 'exa mple.com', selector: 'mx1', privateKeyPem: RSA.pem },
      {
        domain: 'example.com',
        selector: 'mx1',
        privateKeyPem: pemOf(generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey),
      },
    ];
    for (const key of bad) assert.throws(() => createDkimSigner([key]), TypeError, key.selector);
  });
});

describe('fromDomain', () => {
  it('finds the address domain past display names, quotes and comments', () => {
    const cases: [string, string | undefined][] = [
      ['alice@example.com', 'example.com'],
      ['Alice <alice@Example.COM>', 'Example.COM'],
      ['"a@b.test <x@y.test>" <alice@example.com>', 'example.com'],
      ['(comment@c.test) alice@example.com', 'example.com'],
      ['<"odd@local"@example.com>', 'example.com'],
      ['undisclosed', undefined],
    ];
    for (const [from, expected] of cases) {
      assert.equal(fromDomain(Buffer.from(`From: ${from}\r\n\r\nx\r\n`)), expected, from);
    }
  });
});

describe('DKIM through the test DNS server', () => {
  let dns: DnsServer;
  before(async () => {
    // A 2048-bit key's record is longer than 255 octets: published as several strings.
    const chunks = RSA.txt.match(/.{1,255}/g) ?? [];
    assert.ok(chunks.length > 1);
    dns = await startDnsServer({
      host: '127.0.0.1',
      zone: { 'mx1._domainkey.example.com': { txt: [chunks] } },
    });
  });
  after(() => dns.close());

  it('verifies a signature with the key found by our resolver', async () => {
    const resolver = createResolver({ servers: [dns.address], timeoutMs: 2000, cacheMaxEntries: 0 });
    const viaDns = async (name: string, type: string): Promise<string[][]> => {
      assert.equal(type, 'TXT');
      const found = await resolver.resolveTxt(name);
      if (found.kind === 'ok') return found.records.map((r) => [r]);
      throw Object.assign(new Error(`${found.kind} for ${name}`), {
        code: found.kind === 'nxdomain' ? 'ENOTFOUND' : 'ENODATA',
      });
    };
    const signer = createDkimSigner([{ domain: 'example.com', selector: 'mx1', privateKeyPem: RSA.pem }]);
    const signed = await signer.sign(message('alice@example.com'), 'example.com');
    const result = await dkimVerify(Buffer.from(signed), { resolver: viaDns });
    assert.equal(result.results[0]?.status.result, 'pass');
    assert.ok(dns.queries.some((q) => q.name === 'mx1._domainkey.example.com' && q.type === 'TXT'));
  });
});
