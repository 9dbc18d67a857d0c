/**
 * Builds an RFC 5322 / MIME message from the parts of a JSON injection request.
 *
 * In: validated parts (addresses already parsed and formatted, header values free
 * of CR/LF/NUL, attachment bytes decoded). Out: the message as CRLF-canonical bytes:
 * Date, From, To, Cc, Subject, the caller's extra fields, MIME-Version and the body,
 * text/plain or text/html alone, multipart/alternative when both are given, inside
 * multipart/mixed when there are attachments. Text is 7bit when it can be, else
 * quoted-printable; attachments are base64; non-ASCII header text becomes RFC 2047
 * encoded words (display names, Subject) and RFC 2231 parameters (file names).
 * Message-ID is left to the acceptor (ingress/accept.ts), which names it after the
 * queue id, unless the caller supplied one. Bcc never appears in the header.
 * Throws only on a programming error (an empty boundary source).
 */
import { randomBytes } from 'node:crypto';
import { rfc5322Date } from '../../accept.ts';
import {
  addressField,
  base64Lines,
  CRLF,
  canonicalLines,
  is7bit,
  mimeParameter,
  phrase,
  quotedPrintable,
  unstructuredField,
} from './encoding.ts';

export interface MimeAddress {
  /** Display name as given (may be non-ASCII); absent for a bare address. */
  readonly name?: string;
  /** The mailbox as formatMailbox wrote it (`local@domain`, local part quoted if needed). */
  readonly mailbox: string;
}

export interface MimeAttachment {
  readonly filename: string;
  /** `type/subtype`, already checked to be a token pair. */
  readonly contentType: string;
  readonly content: Uint8Array;
}

export interface MimeInput {
  readonly from: MimeAddress;
  readonly to: readonly MimeAddress[];
  readonly cc: readonly MimeAddress[];
  readonly subject: string;
  readonly text?: string;
  readonly html?: string;
  /** Extra fields in order, names already checked (no structural names). */
  readonly headers: readonly (readonly [name: string, value: string])[];
  readonly attachments: readonly MimeAttachment[];
  /** Epoch ms for the Date field. */
  readonly date: number;
}

interface Part {
  /** Header lines, each ending in CRLF. */
  readonly head: string;
  /** Body text ending in CRLF (or empty). */
  readonly body: string;
}

function randomBoundary(): string {
  // "=_" cannot occur in quoted-printable or base64 output, so no body line can match.
  return `=_mxpress_${randomBytes(12).toString('hex')}`;
}

function formatAddress(address: MimeAddress): string {
  return address.name === undefined || address.name === ''
    ? address.mailbox
    : `${phrase(address.name)} <${address.mailbox}>`;
}

function textPart(text: string, subtype: 'plain' | 'html'): Part {
  const type = `Content-Type: text/${subtype}; charset=utf-8${CRLF}`;
  if (is7bit(text)) {
    const body = canonicalLines(text);
    const ended = body === '' || body.endsWith(CRLF) ? body : `${body}${CRLF}`;
    return { head: `${type}Content-Transfer-Encoding: 7bit${CRLF}`, body: ended };
  }
  return { head: `${type}Content-Transfer-Encoding: quoted-printable${CRLF}`, body: quotedPrintable(text) };
}

function attachmentPart(attachment: MimeAttachment): Part {
  return {
    head:
      `Content-Type: ${attachment.contentType}${mimeParameter('name', attachment.filename)}${CRLF}` +
      `Content-Disposition: attachment${mimeParameter('filename', attachment.filename)}${CRLF}` +
      `Content-Transfer-Encoding: base64${CRLF}`,
    body: base64Lines(attachment.content),
  };
}

function multipart(subtype: 'alternative' | 'mixed', parts: readonly Part[], boundary: string): Part {
  // RFC 2046 5.1.1: the CRLF before a delimiter belongs to the delimiter, so each
  // part's own final line ending is kept by adding one more.
  const body = parts.map((part) => `--${boundary}${CRLF}${part.head}${CRLF}${part.body}${CRLF}`).join('');
  return {
    head: `Content-Type: multipart/${subtype};${CRLF} boundary="${boundary}"${CRLF}`,
    body: `${body}--${boundary}--${CRLF}`,
  };
}

/** The body part tree: text and/or html (alternative), then attachments (mixed). */
function bodyPart(input: MimeInput, boundary: () => string): Part {
  const texts: Part[] = [];
  if (input.text !== undefined) texts.push(textPart(input.text, 'plain'));
  if (input.html !== undefined) texts.push(textPart(input.html, 'html'));
  if (texts.length === 0) texts.push(textPart('', 'plain'));
  const main = texts.length === 1 ? texts[0]! : multipart('alternative', texts, boundary());
  if (input.attachments.length === 0) return main;
  return multipart('mixed', [main, ...input.attachments.map(attachmentPart)], boundary());
}

export function buildMime(input: MimeInput, boundary: () => string = randomBoundary): Buffer {
  let head = `Date: ${rfc5322Date(input.date)}${CRLF}`;
  head += addressField('From', [formatAddress(input.from)]);
  if (input.to.length > 0) head += addressField('To', input.to.map(formatAddress));
  if (input.cc.length > 0) head += addressField('Cc', input.cc.map(formatAddress));
  head += unstructuredField('Subject', input.subject);
  for (const [name, value] of input.headers) head += unstructuredField(name, value);
  const body = bodyPart(input, boundary);
  return Buffer.from(`${head}MIME-Version: 1.0${CRLF}${body.head}${CRLF}${body.body}`, 'utf8');
}
