/**
 * Password hashing for SMTP AUTH users.
 *
 * `hashPassword` makes `scrypt$N$r$p$saltB64$hashB64` (N=16384, r=8, p=1, 16-byte
 * random salt, 32-byte key); `verifyPassword` recomputes with the stored parameters
 * and compares in constant time. Passwords are NFC-normalized first so the same
 * text typed on different systems matches. `verifyPassword` takes untrusted input
 * (the password a client sent): it resolves false for a malformed or out-of-bounds
 * hash or an over-long password instead of throwing, and bounds the scrypt cost it
 * will run so a hash from the config file cannot make a client pin the CPU.
 */
import { randomBytes, scrypt, timingSafeEqual } from 'node:crypto';

const N = 16384;
const R = 8;
const P = 1;
const SALT_BYTES = 16;
const KEY_BYTES = 32;
/** Longest password accepted, in UTF-8 bytes. */
export const MAX_PASSWORD_BYTES = 1024;

export interface PasswordHashParts {
  readonly n: number;
  readonly r: number;
  readonly p: number;
  readonly salt: Buffer;
  readonly hash: Buffer;
}

const B64 = /^[A-Za-z0-9+/]+={0,2}$/;

/** Splits and bounds-checks a stored hash; undefined when it is not one we would verify. */
export function parsePasswordHash(text: string): PasswordHashParts | undefined {
  if (typeof text !== 'string' || text.length > 512) return undefined;
  const parts = text.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return undefined;
  const [, nText, rText, pText, saltText, hashText] = parts as [
    string,
    string,
    string,
    string,
    string,
    string,
  ];
  if (![nText, rText, pText].every((t) => /^[1-9]\d{0,7}$/.test(t))) return undefined;
  const n = Number(nText);
  const r = Number(rText);
  const p = Number(pText);
  // Power of two, and memory (128*N*r) at most 64 MiB; p small.
  if (n < 2 || (n & (n - 1)) !== 0 || r > 32 || p > 16 || 128 * n * r > 64 * 1024 * 1024) return undefined;
  if (!B64.test(saltText) || !B64.test(hashText)) return undefined;
  const salt = Buffer.from(saltText, 'base64');
  const hash = Buffer.from(hashText, 'base64');
  if (salt.length < 8 || salt.length > 64 || hash.length < 16 || hash.length > 64) return undefined;
  return { n, r, p, salt, hash };
}

function derive(
  plain: string,
  salt: Buffer,
  keyBytes: number,
  n: number,
  r: number,
  p: number,
): Promise<Buffer> {
  const maxmem = 128 * n * r * 2 + 1024 * 1024;
  return new Promise((resolve, reject) => {
    scrypt(plain.normalize('NFC'), salt, keyBytes, { N: n, r, p, maxmem }, (error, key) => {
      if (error) reject(error);
      else resolve(key);
    });
  });
}

export async function hashPassword(plain: string): Promise<string> {
  if (typeof plain !== 'string' || plain.length === 0)
    throw new TypeError('password must be a non-empty string');
  if (Buffer.byteLength(plain, 'utf8') > MAX_PASSWORD_BYTES) {
    throw new RangeError(`password is longer than ${MAX_PASSWORD_BYTES} bytes`);
  }
  const salt = randomBytes(SALT_BYTES);
  const key = await derive(plain, salt, KEY_BYTES, N, R, P);
  return `scrypt$${N}$${R}$${P}$${salt.toString('base64')}$${key.toString('base64')}`;
}

export async function verifyPassword(plain: string, hash: string): Promise<boolean> {
  if (typeof plain !== 'string' || Buffer.byteLength(plain, 'utf8') > MAX_PASSWORD_BYTES) return false;
  const parts = parsePasswordHash(hash);
  if (parts === undefined) return false;
  const key = await derive(plain, parts.salt, parts.hash.length, parts.n, parts.r, parts.p);
  return timingSafeEqual(key, parts.hash);
}
