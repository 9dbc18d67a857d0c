/**
 * Which lifecycle events a live-stream client asked for: by type, message id,
 * recipient address and recipient domain (all given filters must match).
 *
 * Pure. In: the parsed query of `GET /api/v1/events` (values already validated
 * by the route). Out: a predicate. The switch over event types has a `never`
 * check, so a new event type must say which addresses it concerns.
 */
import type { LifecycleEvent, LifecycleEventType } from '../../../contracts/events.ts';

export interface EventFilter {
  readonly types?: ReadonlySet<LifecycleEventType>;
  readonly messageId?: string;
  /** As formatMailbox writes it (domain lower-cased). */
  readonly recipient?: string;
  /** Lower-cased. */
  readonly domain?: string;
}

/** The recipient addresses an event concerns. */
export function eventAddresses(event: LifecycleEvent): readonly string[] {
  switch (event.type) {
    case 'received':
    case 'dsn-sent':
      return event.recipients;
    case 'delivered':
    case 'deferred':
    case 'bounced':
    case 'expired':
    case 'suppressed':
    case 'cancelled':
      return [event.recipient];
    case 'suppression-added':
      return [event.address];
    default: {
      const unknown: never = event;
      void unknown;
      // A stored event of a type this build does not know: no address we can tell.
      return [];
    }
  }
}

function domainOf(address: string): string {
  return address.slice(address.lastIndexOf('@') + 1).toLowerCase();
}

/** `local@Domain` compared with the domain case-folded, as addresses are stored. */
function sameAddress(a: string, b: string): boolean {
  const at = a.lastIndexOf('@');
  return at === b.lastIndexOf('@') && a.slice(0, at) === b.slice(0, at) && domainOf(a) === domainOf(b);
}

export function matchesFilter(event: LifecycleEvent, filter: EventFilter): boolean {
  if (filter.types !== undefined && !filter.types.has(event.type)) return false;
  if (filter.messageId !== undefined && event.messageId !== filter.messageId) return false;
  if (filter.recipient === undefined && filter.domain === undefined) return true;
  const addresses = eventAddresses(event);
  if (filter.recipient !== undefined && !addresses.some((a) => sameAddress(a, filter.recipient!)))
    return false;
  if (filter.domain !== undefined && !addresses.some((a) => domainOf(a) === filter.domain)) return false;
  return true;
}
