/**
 * The mxpress version, read once from package.json next to src/.
 *
 * Falls back to `unknown` when the file cannot be read (a broken install still
 * prints help and errors).
 */
import { readFileSync } from 'node:fs';

let cached: string | undefined;

export function mxpressVersion(): string {
  if (cached !== undefined) return cached;
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as {
      version?: unknown;
    };
    cached = typeof pkg.version === 'string' ? pkg.version : 'unknown';
  } catch {
    cached = 'unknown';
  }
  return cached;
}
