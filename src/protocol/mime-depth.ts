/**
 * How deeply a message's MIME parts nest (RFC 2045/2046), to refuse "MIME bombs".
 *
 * Pure and UNTRUSTED-input safe: the message is scanned once, only header sections
 * and lines that start with "--" are looked at, and the scan stops as soon as the
 * limit is passed. Each multipart entity and each message/rfc822 part counts as one
 * level. Malformed structure is not an error here (many real messages are sloppy);
 * only depth is judged.
 */

export interface MimeDepthResult {
  /** Deepest nesting seen (0 for a single-part message). */
  readonly depth: number;
  readonly exceeded: boolean;
}

/** A header section longer than this is not read for its Content-Type (the part counts as single). */
export const MAX_MIME_HEADER_BYTES = 64 * 1024;

/** Bytes of the message start that `mayNest` needs: the longest header section read, and its empty line. */
export const MIME_LEAD_BYTES = MAX_MIME_HEADER_BYTES + 4;

const CRLF = Buffer.from('\r\n');
const HEADER_END = Buffer.from('\r\n\r\n');

/**
 * False when `lead` (the first MIME_LEAD_BYTES of a message, or all of it) shows
 * that mimeDepth would find depth 0: the top level is taken, as there, from the
 * header section before the first empty line, and only a multipart or message/*
 * top level can nest. Reads only that section, so most mail is cleared without
 * decoding or copying its body. True means "run mimeDepth", not "nested".
 */
export function mayNest(lead: Buffer): boolean {
  if (lead.length === 0 || lead.indexOf(CRLF) === 0) return false;
  const end = lead.indexOf(HEADER_END);
  if (end < 0 || end > MAX_MIME_HEADER_BYTES) return false;
  return /multipart\/|message\/(?:rfc822|global)/i.test(lead.toString('latin1', 0, end));
}

/** Content-Type of a header block: [type/subtype lower-cased, boundary?]. */
function contentType(headers: string): [string, string | undefined] {
  const unfolded = headers.replace(/\r\n[ \t]+/g, ' ');
  const match = /(?:^|\r\n)content-type[ \t]*:[ \t]*([^\r\n]*)/i.exec(unfolded);
  if (!match) return ['text/plain', undefined];
  const value = match[1]!;
  const type = (
    /^\s*([a-z0-9!#$&^_.+-]+\/[a-z0-9!#$&^_.+-]+)/i.exec(value)?.[1] ?? 'text/plain'
  ).toLowerCase();
  const boundary = /;\s*boundary\s*=\s*(?:"([^"]{1,200})"|([^\s;"]{1,200}))/i.exec(value);
  return [type, boundary?.[1] ?? boundary?.[2]];
}

export function mimeDepth(message: Buffer, limit: number): MimeDepthResult {
  const text = message.toString('latin1');
  // Each open level: the boundary that closes it (undefined for message/rfc822 levels).
  const stack: (string | undefined)[] = [];
  let depth = 0;
  let at = 0;
  let inHeaders = true;
  while (at < text.length) {
    if (inHeaders) {
      let end = text.indexOf('\r\n\r\n', at);
      const blankFirst = text.startsWith('\r\n', at);
      if (blankFirst) end = at - 2;
      if (end < 0 || end - at > MAX_MIME_HEADER_BYTES) return { depth, exceeded: false };
      const [type, boundary] = contentType(blankFirst ? '' : text.slice(at, end));
      at = end + 4;
      inHeaders = false;
      if (type.startsWith('multipart/') && boundary) {
        stack.push(boundary);
      } else if (type === 'message/rfc822' || type === 'message/global') {
        stack.push(undefined);
        inHeaders = true;
      } else {
        continue;
      }
      depth = Math.max(depth, stack.length);
      if (depth > limit) return { depth, exceeded: true };
      continue;
    }
    // In a body: only delimiter lines ("--boundary" or "--boundary--") matter.
    const next = text.indexOf('\r\n--', Math.max(0, at - 2));
    if (next < 0) break;
    const lineStart = next + 2;
    const lineEnd = text.indexOf('\r\n', lineStart);
    const line = text.slice(lineStart, lineEnd < 0 ? text.length : lineEnd).replace(/[ \t]+$/, '');
    at = lineEnd < 0 ? text.length : lineEnd + 2;
    for (let level = stack.length - 1; level >= 0; level--) {
      const boundary = stack[level];
      if (boundary === undefined) continue;
      if (line === `--${boundary}--`) {
        stack.length = level;
        break;
      }
      if (line === `--${boundary}`) {
        stack.length = level + 1;
        inHeaders = true;
        break;
      }
    }
  }
  return { depth, exceeded: false };
}
