/**
 * Addresses as the HTTP API takes them: `addr@example.com` or
 * `Display Name <addr@example.com>` (the name may be quoted).
 *
 * In: UNTRUSTED text from a request. Out: the display name and the mailbox as
 * protocol/address.ts parses and formats it (the same rules SMTP applies), or a
 * reason. CR, LF, NUL and every other control character are refused outright, in
 * the name as in the address: nothing here can start a new header line.
 */
import { formatMailbox, hasNonAscii, parseMailbox } from '../../protocol/address.ts';

export interface AddressInput {
  readonly name?: string;
  /** `local@domain` as formatMailbox writes it (domain lower-cased, local part quoted if needed). */
  readonly mailbox: string;
  /** The mailbox needs SMTPUTF8 (non-ASCII local part or domain). */
  readonly utf8: boolean;
}

export type AddressResult =
  | { readonly ok: true; readonly value: AddressInput }
  | { readonly ok: false; readonly reason: string };

const CONTROL = /[\x00-\x1f\x7f]/;
export const MAX_DISPLAY_NAME = 200;

export function controlCharacterReason(text: string): string | undefined {
  if (/[\r\n\0]/.test(text)) return 'CR, LF and NUL are not allowed (header injection)';
  if (CONTROL.test(text)) return 'control characters are not allowed';
  if (!text.isWellFormed()) return 'not well-formed Unicode (lone surrogate)';
  return undefined;
}

function unquote(name: string): string | undefined {
  if (!name.startsWith('"')) return name;
  if (name.length < 2 || !name.endsWith('"')) return undefined;
  const inner = name.slice(1, -1);
  if (/(^|[^\\])(\\\\)*"/.test(inner)) return undefined;
  return inner.replace(/\\(.)/g, '$1');
}

export function parseAddressInput(text: string): AddressResult {
  const bad = controlCharacterReason(text);
  if (bad !== undefined) return { ok: false, reason: bad };
  let name: string | undefined;
  let addr = text.trim();
  const angle = /^(.*?)\s*<([^<>]*)>$/s.exec(addr);
  if (angle) {
    const raw = angle[1]!.trim();
    const unquoted = unquote(raw);
    if (unquoted === undefined) return { ok: false, reason: 'unbalanced quotes in the display name' };
    if (unquoted.length > MAX_DISPLAY_NAME)
      return { ok: false, reason: `display name longer than ${MAX_DISPLAY_NAME}` };
    if (unquoted !== '') name = unquoted;
    addr = angle[2]!.trim();
  } else if (/[<>]/.test(addr)) {
    return { ok: false, reason: 'expected addr@domain or Name <addr@domain>' };
  }
  const parsed = parseMailbox(addr, { allowUtf8: true });
  if (!parsed.ok) return { ok: false, reason: parsed.message };
  const mailbox = formatMailbox(parsed.value);
  return {
    ok: true,
    value: { ...(name !== undefined ? { name } : {}), mailbox, utf8: hasNonAscii(mailbox) },
  };
}
