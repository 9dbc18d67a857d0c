/**
 * Which envelope senders an authenticated user may use.
 *
 * A pattern is a domain (`example.com`: any address at exactly that domain) or an
 * address (`user@example.org`). Domains compare case-insensitively; local parts
 * exactly (RFC 5321 2.4), except that the domain part of an address pattern is
 * case-insensitive too. The sender is UNTRUSTED but already parsed and formatted
 * (protocol/address.ts); the null sender `<>` matches no pattern. Pure, no I/O.
 */

export function senderAllowed(patterns: readonly string[], sender: string): boolean {
  if (sender === '') return false;
  const at = sender.lastIndexOf('@');
  if (at <= 0) return false;
  const local = sender.slice(0, at);
  const domain = sender.slice(at + 1).toLowerCase();
  for (const pattern of patterns) {
    const pAt = pattern.lastIndexOf('@');
    if (pAt < 0) {
      if (pattern.toLowerCase() === domain) return true;
    } else if (pattern.slice(0, pAt) === local && pattern.slice(pAt + 1).toLowerCase() === domain) {
      return true;
    }
  }
  return false;
}
