/**
 * Domain names on the wire (RFC 1035 3.1, 4.1.4) and in text.
 *
 * Text form: labels joined by `.`, no trailing dot, the root is `''`. Bytes that
 * are not printable ASCII, and `.` or `\` inside a label, are escaped as `\DDD` /
 * `\.` / `\\` (RFC 1035 5.1 presentation format), so a label holding a dot can never
 * pass for two labels. Case is kept as received; callers compare lower-cased.
 *
 * `readName` reads UNTRUSTED bytes: every read is bounds-checked, compression
 * pointers must point strictly before the previous jump (so loops are impossible)
 * and are limited in number, names are limited to 255 octets. It throws only
 * `WireError`, which wire.ts turns into an error value.
 */

export class WireError extends Error {
  override name = 'WireError';
}

const MAX_NAME_OCTETS = 255;
const MAX_LABEL_OCTETS = 63;
const MAX_POINTER_JUMPS = 64;

function escapeLabel(bytes: Uint8Array, start: number, length: number): string {
  let out = '';
  for (let i = start; i < start + length; i++) {
    const byte = bytes[i]!;
    if (byte === 0x2e || byte === 0x5c) out += `\\${String.fromCharCode(byte)}`;
    else if (byte > 0x20 && byte < 0x7f) out += String.fromCharCode(byte);
    else out += `\\${byte.toString().padStart(3, '0')}`;
  }
  return out;
}

/** Reads a possibly compressed name at `offset`; `next` is the offset just after it in place. */
export function readName(bytes: Uint8Array, offset: number): { name: string; next: number } {
  const labels: string[] = [];
  let pos = offset;
  let next = -1;
  let lowestJump = offset;
  let jumps = 0;
  let octets = 1;
  for (;;) {
    if (pos >= bytes.length) throw new WireError('name runs past the end of the message');
    const length = bytes[pos]!;
    const kind = length & 0xc0;
    if (kind === 0xc0) {
      if (pos + 1 >= bytes.length) throw new WireError('truncated compression pointer');
      const target = ((length & 0x3f) << 8) | bytes[pos + 1]!;
      if (target >= lowestJump) throw new WireError('compression pointer does not point backwards');
      if (++jumps > MAX_POINTER_JUMPS) throw new WireError('too many compression pointers');
      if (next < 0) next = pos + 2;
      lowestJump = target;
      pos = target;
      continue;
    }
    if (kind !== 0) throw new WireError('unsupported label type');
    if (length === 0) {
      if (next < 0) next = pos + 1;
      return { name: labels.join('.'), next };
    }
    if (pos + 1 + length > bytes.length) throw new WireError('label runs past the end of the message');
    octets += length + 1;
    if (octets > MAX_NAME_OCTETS) throw new WireError('name longer than 255 octets');
    labels.push(escapeLabel(bytes, pos + 1, length));
    pos += 1 + length;
  }
}

/**
 * Splits a text name into wire labels, undoing escapes. Undefined when the name is
 * not encodable: an empty label, a label over 63 octets, over 255 octets in all, or
 * a malformed escape. A trailing dot is accepted; `''` and `'.'` are the root.
 */
export function nameToLabels(name: string): Uint8Array[] | undefined {
  const text = name.endsWith('.') && !name.endsWith('\\.') ? name.slice(0, -1) : name;
  if (text === '') return [];
  const labels: Uint8Array[] = [];
  let current: number[] = [];
  let octets = 1;
  const finish = (): boolean => {
    if (current.length === 0 || current.length > MAX_LABEL_OCTETS) return false;
    octets += current.length + 1;
    labels.push(Uint8Array.from(current));
    current = [];
    return octets <= MAX_NAME_OCTETS;
  };
  const utf8 = Buffer.from(text, 'utf8');
  for (let i = 0; i < utf8.length; i++) {
    const byte = utf8[i]!;
    if (byte === 0x2e) {
      if (!finish()) return undefined;
    } else if (byte === 0x5c) {
      const a = utf8[i + 1];
      if (a === undefined) return undefined;
      if (a >= 0x30 && a <= 0x39) {
        const digits = utf8.subarray(i + 1, i + 4).toString('latin1');
        if (!/^[0-9]{3}$/.test(digits) || Number(digits) > 255) return undefined;
        current.push(Number(digits));
        i += 3;
      } else {
        current.push(a);
        i += 1;
      }
    } else {
      current.push(byte);
    }
  }
  return finish() ? labels : undefined;
}

/** Lower-cases ASCII letters only (DNS names compare case-insensitively in ASCII, RFC 4343). */
export function lowerName(name: string): string {
  return name.replace(/[A-Z]+/g, (s) => s.toLowerCase());
}
