/**
 * Relay control: may this client hand us mail for this recipient?
 *
 * mxpress holds no mailboxes, so every accepted recipient is relayed. A client may
 * relay when it connects from a trusted network or has authenticated; nobody else
 * may, whatever the address looks like. The decision uses the final domain only
 * (protocol/address.ts already reduced `%` hacks, quoted local parts and source
 * routes to that): local-part tricks are opaque bytes for the next hop, never a
 * route for us. Pure function; the caller supplies the facts.
 */

export interface RelayFacts {
  /** Client address is inside `smtp.trustedNetworks`. */
  readonly trusted: boolean;
  /** The session authenticated (AUTH succeeded). */
  readonly authenticated: boolean;
}

export type RelayDecision = { readonly allowed: true } | { readonly allowed: false; readonly reason: string };

export function decideRelay(facts: RelayFacts): RelayDecision {
  if (facts.trusted || facts.authenticated) return { allowed: true };
  return { allowed: false, reason: 'Relay access denied: authenticate first' };
}
