/**
 * MX record selection (RFC 5321 5.1, RFC 7505): pure functions, no I/O.
 *
 * `selectMxHosts` turns the MX records of a domain (UNTRUSTED data from DNS) into
 * a null-MX verdict or a list of distinct hosts in delivery order: ascending
 * preference, equal preferences in random order (spreads load, as 5.1 asks),
 * at most `MAX_MX_HOSTS`. A lone root exchange is a null MX; a root exchange
 * mixed with real ones is ignored. Never throws.
 */
import type { DnsRecord } from './wire.ts';
import { lowerName } from './wire-name.ts';

export const MAX_MX_HOSTS = 10;

export type MxSelection =
  | { readonly kind: 'null-mx' }
  | { readonly kind: 'hosts'; readonly hosts: readonly { host: string; preference: number }[] };

/** Fisher-Yates with an injectable random source in [0, 1). */
export function shuffle<T>(items: readonly T[], random: () => number): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

export function selectMxHosts(
  records: readonly DnsRecord[],
  random: () => number = Math.random,
): MxSelection {
  const best = new Map<string, number>();
  let sawRoot = false;
  for (const record of records) {
    if (record.type !== 'MX') continue;
    const host = lowerName(record.exchange);
    if (host === '') {
      sawRoot = true;
      continue;
    }
    const known = best.get(host);
    if (known === undefined || record.preference < known) best.set(host, record.preference);
  }
  if (best.size === 0) return sawRoot ? { kind: 'null-mx' } : { kind: 'hosts', hosts: [] };
  // Shuffle first, then a stable sort: equal preferences end up in random order.
  const hosts = shuffle(
    [...best].map(([host, preference]) => ({ host, preference })),
    random,
  ).sort((a, b) => a.preference - b.preference);
  return { kind: 'hosts', hosts: hosts.slice(0, MAX_MX_HOSTS) };
}
