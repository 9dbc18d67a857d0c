/**
 * What an injection request becomes before it reaches the acceptor: an envelope,
 * the message bytes, and the recipients to report back; or a problem naming the
 * field. Shared by the JSON (json-input.ts) and raw (raw-input.ts) forms.
 * Types and two small helpers; no I/O.
 */
import type { EnvelopeInput, RecipientInput } from '../../contracts/envelope.ts';

export interface Injection {
  readonly envelope: EnvelopeInput;
  /** CRLF-canonical message bytes, size already checked. */
  readonly content: Buffer;
}

export interface InjectionProblem {
  /** 400 bad field, 413 too large. */
  readonly status: 400 | 413;
  readonly field: string;
  readonly detail: string;
}

export type InjectionResult =
  | { readonly ok: true; readonly value: Injection }
  | ({ readonly ok: false } & InjectionProblem);

export function problem(field: string, detail: string, status: 400 | 413 = 400): InjectionResult {
  return { ok: false, status, field, detail };
}

/** Recipients in order without exact duplicates (an address in both To and Cc gets one copy). */
export function uniqueRecipients(
  mailboxes: readonly string[],
  notify: RecipientInput['notify'] | undefined,
): RecipientInput[] {
  return [...new Set(mailboxes)].map((address) => ({ address, ...(notify !== undefined ? { notify } : {}) }));
}
