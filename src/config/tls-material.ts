/**
 * The SMTP listeners' TLS key and certificate: loaded from files, or self-signed.
 *
 * With `certFile` and `keyFile`: reads both (size-limited), requires PEM, parses the
 * certificate and key and checks that they belong together. Without: reuses
 * `<dataDir>/tls/self-signed.{key,cert}.pem` when both parse, match, name the host
 * and stay valid for 30 more days; otherwise makes a new ECDSA P-256 key and a
 * self-signed certificate (self-signed.ts) and writes them atomically (temp file +
 * rename), key mode 0600 in a 0700 directory. Returns the PEM text and the
 * certificate's SHA-256 fingerprint (colon hex, as `openssl x509 -fingerprint` shows).
 * Problems with operator-supplied files throw `ConfigError` naming the key and the
 * file; failures writing the data dir throw an Error naming the path.
 */
import {
  createPrivateKey,
  generateKeyPairSync,
  type KeyObject,
  randomBytes,
  X509Certificate,
} from 'node:crypto';
import { chmod, mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ConfigError } from './errors.ts';
import { buildSelfSignedCertificate } from './self-signed.ts';

export interface TlsMaterialOptions {
  readonly dataDir: string;
  readonly certFile?: string;
  readonly keyFile?: string;
  readonly hostname: string;
}

export interface TlsMaterial {
  readonly key: string;
  readonly cert: string;
  readonly selfSigned: boolean;
  readonly fingerprint256: string;
}

const MAX_PEM_BYTES = 256 * 1024;
const RENEW_BEFORE_MS = 30 * 86_400_000;

async function readPem(path: string, key: string, kind: string): Promise<string> {
  let text: string;
  try {
    const info = await stat(path);
    if (info.size > MAX_PEM_BYTES) throw new Error(`larger than ${MAX_PEM_BYTES} bytes`);
    text = await readFile(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const why =
      code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : (error as Error).message;
    throw new ConfigError({ key, problem: `cannot read ${kind} file ${path}: ${why}` }, { cause: error });
  }
  if (!text.includes('-----BEGIN ')) {
    throw new ConfigError({
      key,
      problem: `${path} is not PEM (expected a "-----BEGIN ..." block with the ${kind})`,
    });
  }
  return text;
}

function parseCert(pem: string): X509Certificate | undefined {
  try {
    return new X509Certificate(pem);
  } catch {
    return undefined;
  }
}

function parseKey(pem: string): KeyObject | undefined {
  try {
    return createPrivateKey(pem);
  } catch {
    return undefined;
  }
}

async function fromFiles(certFile: string, keyFile: string): Promise<TlsMaterial> {
  const cert = await readPem(certFile, 'smtp.tls.cert', 'certificate');
  const key = await readPem(keyFile, 'smtp.tls.key', 'private key');
  const x509 = parseCert(cert);
  if (x509 === undefined) {
    throw new ConfigError({ key: 'smtp.tls.cert', problem: `${certFile} holds no readable PEM certificate` });
  }
  const keyObject = parseKey(key);
  if (keyObject === undefined) {
    throw new ConfigError({
      key: 'smtp.tls.key',
      problem: `${keyFile} holds no readable PEM private key (encrypted keys are not supported)`,
    });
  }
  if (!x509.checkPrivateKey(keyObject)) {
    throw new ConfigError({
      key: 'smtp.tls.key',
      problem: `${keyFile} is not the key of the certificate in ${certFile}`,
    });
  }
  const selfSigned = x509.issuer === x509.subject && x509.verify(x509.publicKey);
  return { key, cert, selfSigned, fingerprint256: x509.fingerprint256 };
}

async function readIfPresent(path: string): Promise<string | undefined> {
  try {
    const info = await stat(path);
    if (!info.isFile() || info.size > MAX_PEM_BYTES) return undefined;
    return await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

/** The stored pair if it is still good for `hostname`, else undefined. */
async function reusable(
  keyPath: string,
  certPath: string,
  hostname: string,
): Promise<TlsMaterial | undefined> {
  const [key, cert] = await Promise.all([readIfPresent(keyPath), readIfPresent(certPath)]);
  if (key === undefined || cert === undefined) return undefined;
  const x509 = parseCert(cert);
  const keyObject = parseKey(key);
  if (x509 === undefined || keyObject === undefined || !x509.checkPrivateKey(keyObject)) return undefined;
  if (x509.checkHost(hostname, { subject: 'never' }) === undefined) return undefined;
  const now = Date.now();
  if (new Date(x509.validFrom).getTime() > now || new Date(x509.validTo).getTime() - now < RENEW_BEFORE_MS) {
    return undefined;
  }
  return { key, cert, selfSigned: true, fingerprint256: x509.fingerprint256 };
}

async function writeAtomically(path: string, content: string, mode: number): Promise<void> {
  const temp = `${path}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    await writeFile(temp, content, { mode, flag: 'wx' });
    await chmod(temp, mode); // the umask may have removed bits we asked for; never adds any
    await rename(temp, path);
  } catch (error) {
    await rm(temp, { force: true });
    throw new Error(`cannot write ${path}: ${(error as Error).message}`, { cause: error });
  }
}

async function selfSigned(dataDir: string, hostname: string): Promise<TlsMaterial> {
  const dir = join(dataDir, 'tls');
  const keyPath = join(dir, 'self-signed.key.pem');
  const certPath = join(dir, 'self-signed.cert.pem');
  try {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    await chmod(dir, 0o700);
  } catch (error) {
    throw new Error(`cannot create the TLS directory ${dir}: ${(error as Error).message}`, { cause: error });
  }
  const existing = await reusable(keyPath, certPath, hostname);
  if (existing !== undefined) return existing;

  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const cert = buildSelfSignedCertificate({ hostname, privateKey, publicKey });
  const key = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  // Key first: a crash between the two leaves a mismatched pair, which is regenerated next time.
  await writeAtomically(keyPath, key, 0o600);
  await writeAtomically(certPath, cert, 0o644);
  return { key, cert, selfSigned: true, fingerprint256: new X509Certificate(cert).fingerprint256 };
}

export async function loadOrCreateTlsMaterial(opts: TlsMaterialOptions): Promise<TlsMaterial> {
  if (opts.certFile !== undefined && opts.keyFile !== undefined)
    return fromFiles(opts.certFile, opts.keyFile);
  if (opts.certFile !== undefined || opts.keyFile !== undefined) {
    throw new ConfigError({
      key: 'smtp.tls',
      problem: 'give both cert and key, or neither (a self-signed pair is made)',
    });
  }
  return selfSigned(opts.dataDir, opts.hostname);
}
