/**
 * Checks at load time that every configured DKIM private key file can be read and
 * holds a key mxpress can sign with, so a wrong path fails `config check` and
 * `start` instead of the first signed message.
 *
 * In: the built `delivery.dkim` list and the config file's path (for messages).
 * Reads each file (at most 64KB) and parses it with node:crypto: an unencrypted
 * PEM/DER private key, RSA of at least 1024 bits or Ed25519. Throws `ConfigError`
 * with one issue per bad key, naming the key (`selector._domainkey.domain`), its
 * path and why; the key's content is never echoed.
 */
import { createPrivateKey } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { ConfigError, type ConfigIssue } from './errors.ts';
import type { DkimKeyConfig } from './types.ts';

const MAX_KEY_BYTES = 64 * 1024;

async function problemWith(path: string): Promise<string | undefined> {
  let pem: string;
  try {
    const info = await stat(path);
    if (!info.isFile()) return 'is not a regular file';
    if (info.size > MAX_KEY_BYTES) return `is larger than ${MAX_KEY_BYTES} bytes; is it the right file?`;
    pem = await readFile(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return 'no such file';
    if (code === 'EACCES') return 'permission denied';
    return (error as Error).message;
  }
  let type: string | undefined;
  let bits = 0;
  try {
    const key = createPrivateKey(pem);
    type = key.asymmetricKeyType;
    bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
  } catch {
    return 'is not an unencrypted PEM private key (make one with "mxpress dkim keygen")';
  }
  if (type !== 'rsa' && type !== 'ed25519')
    return `holds a ${type ?? 'unknown'} key; DKIM needs RSA or Ed25519`;
  if (type === 'rsa' && bits < 1024) return `holds an RSA key of ${bits} bits; DKIM needs at least 1024`;
  return undefined;
}

export async function checkDkimKeys(keys: readonly DkimKeyConfig[], origin: string): Promise<void> {
  const issues: ConfigIssue[] = [];
  for (const [i, key] of keys.entries()) {
    const problem = await problemWith(key.privateKeyFile);
    if (problem === undefined) continue;
    issues.push({
      key: `delivery.dkim[${i}].privateKeyFile`,
      problem: `the key for ${key.selector}._domainkey.${key.domain} (${key.privateKeyFile}): ${problem}`,
      origin,
    });
  }
  if (issues.length > 0) throw new ConfigError(issues);
}
