/**
 * Builds a self-signed X.509 v3 certificate for an ECDSA P-256 key.
 *
 * In: the host name and a key pair. Out: the certificate as PEM. Subject and issuer
 * are CN=<hostname>; the certificate carries subjectAltName dNSName <hostname>,
 * basicConstraints CA:FALSE, keyUsage digitalSignature and extKeyUsage serverAuth,
 * is valid from a day ago for ten years, has a random positive 128-bit serial and
 * is signed ecdsa-with-SHA256 with `crypto.sign`. Throws on a non-EC key.
 */
import { type KeyObject, randomBytes, sign } from 'node:crypto';
import {
  bitString,
  boolean,
  explicit,
  implicitPrimitive,
  integer,
  octetString,
  oid,
  sequence,
  set,
  time,
  utf8String,
} from './der.ts';

const OID = {
  ecdsaWithSha256: '1.2.840.10045.4.3.2',
  commonName: '2.5.4.3',
  basicConstraints: '2.5.29.19',
  keyUsage: '2.5.29.15',
  extKeyUsage: '2.5.29.37',
  subjectAltName: '2.5.29.17',
  serverAuth: '1.3.6.1.5.5.7.3.1',
} as const;

const DAY = 86_400_000;
/** RFC 5280 ub-common-name. */
const MAX_CN = 64;

function extension(id: string, critical: boolean, value: Uint8Array): Buffer {
  return critical
    ? sequence(oid(id), boolean(true), octetString(value))
    : sequence(oid(id), octetString(value));
}

function toPem(der: Uint8Array): string {
  const lines =
    Buffer.from(der)
      .toString('base64')
      .match(/.{1,64}/g) ?? [];
  return `-----BEGIN CERTIFICATE-----\n${lines.join('\n')}\n-----END CERTIFICATE-----\n`;
}

export interface SelfSignedOptions {
  readonly hostname: string;
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
  /** Defaults to now; validity runs from a day before to ten years after. */
  readonly now?: Date;
}

export function buildSelfSignedCertificate(options: SelfSignedOptions): string {
  if (options.privateKey.asymmetricKeyType !== 'ec') throw new TypeError('an EC (P-256) key is required');
  // dNSName is an IA5String: ASCII only (host names are validated to LDH already).
  if (!/^[\x21-\x7e]{1,253}$/.test(options.hostname)) throw new RangeError('host name must be ASCII');
  const now = options.now?.getTime() ?? Date.now();
  const notBefore = new Date(now - DAY);
  const notAfter = new Date(now);
  notAfter.setUTCFullYear(notAfter.getUTCFullYear() + 10);

  const serial = randomBytes(16);
  serial[0] = (serial[0]! & 0x7f) | 0x40; // positive and never shortened to fewer bytes
  const cn = options.hostname.length <= MAX_CN ? options.hostname : 'mxpress';
  const name = sequence(set(sequence(oid(OID.commonName), utf8String(cn))));
  const algorithm = sequence(oid(OID.ecdsaWithSha256));
  const spki = options.publicKey.export({ type: 'spki', format: 'der' });

  // keyUsage digitalSignature: BIT STRING with 7 unused bits, first bit set.
  const keyUsage = Buffer.from([0x03, 0x02, 0x07, 0x80]);
  const extensions = sequence(
    extension(OID.basicConstraints, true, sequence()),
    extension(OID.keyUsage, true, keyUsage),
    extension(OID.extKeyUsage, false, sequence(oid(OID.serverAuth))),
    extension(
      OID.subjectAltName,
      false,
      sequence(implicitPrimitive(2, Buffer.from(options.hostname, 'ascii'))),
    ),
  );

  const tbs = sequence(
    explicit(0, integer(2)), // v3
    integer(serial),
    algorithm,
    name,
    sequence(time(notBefore), time(notAfter)),
    name,
    spki,
    explicit(3, extensions),
  );
  const signature = sign('sha256', tbs, { key: options.privateKey, dsaEncoding: 'der' });
  return toPem(sequence(tbs, algorithm, bitString(signature)));
}
