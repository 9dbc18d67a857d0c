/**
 * Header section scanning for messages we accept (RFC 5322 section 2.2).
 *
 * Finds where the header section of a CRLF-canonical message ends and pulls out a
 * few fields for listings and for deciding which trace fields to add. Input is
 * UNTRUSTED: it never throws, caps how much it reads and how long values may be,
 * and strips control characters from extracted values.
 */

const SUMMARY_FIELDS = new Set(['subject', 'from', 'to', 'cc', 'message-id', 'date', 'reply-to']);
const MAX_VALUE = 500;
const HEADER_END = Buffer.from('\r\n\r\n');

export interface HeaderScan {
  /** Byte length of the header section including its terminating empty line (0 when none). */
  readonly headerBytes: number;
  /** Lower-case field name -> unfolded value (first occurrence), for SUMMARY_FIELDS only. */
  readonly fields: Readonly<Record<string, string>>;
  /** True when the first line is not a header field (a message with no header section). */
  readonly noHeader: boolean;
}

/** Scans `head` (the first bytes of the message; at most `limit` bytes are read). */
export function scanHeaders(head: Buffer, limit = 256 * 1024): HeaderScan {
  const view = head.length > limit ? head.subarray(0, limit) : head;
  // Only the bytes up to the first empty line are decoded: the scan never reads past it.
  const blank = view.indexOf(HEADER_END);
  const text = view.toString('latin1', 0, blank < 0 ? view.length : blank + HEADER_END.length);
  const fields: Record<string, string> = {};
  let offset = 0;
  let current: { name: string; value: string } | undefined;
  const flush = (): void => {
    if (current && SUMMARY_FIELDS.has(current.name) && !(current.name in fields)) {
      fields[current.name] = sanitize(current.value);
    }
    current = undefined;
  };
  while (offset < text.length) {
    const end = text.indexOf('\r\n', offset);
    if (end < 0) break;
    const lineStart = offset;
    const line = text.slice(offset, end);
    offset = end + 2;
    if (line === '') {
      flush();
      return { headerBytes: offset, fields, noHeader: false };
    }
    if (line.startsWith(' ') || line.startsWith('\t')) {
      if (!current) return { headerBytes: 0, fields, noHeader: true };
      if (current.value.length < MAX_VALUE * 2) current.value += line;
      continue;
    }
    const colon = line.indexOf(':');
    if (colon <= 0 || !/^[\x21-\x39\x3b-\x7e]+$/.test(line.slice(0, colon))) {
      flush();
      // Not a field: the header section ends here without an empty line.
      return { headerBytes: lineStart, fields, noHeader: lineStart === 0 };
    }
    flush();
    current = { name: line.slice(0, colon).toLowerCase(), value: line.slice(colon + 1) };
  }
  flush();
  return { headerBytes: offset, fields, noHeader: false };
}

function sanitize(value: string): string {
  // Decode as UTF-8 where valid (latin1 was only a byte-preserving view).
  const bytes = Buffer.from(value, 'latin1');
  const decoded = bytes.toString('utf8');
  const cleaned = decoded.replace(/[\x00-\x1f\x7f]+/g, ' ').trim();
  return cleaned.length > MAX_VALUE ? `${cleaned.slice(0, MAX_VALUE)}...` : cleaned;
}
