/**
 * Envelope and message shapes shared by every stage.
 *
 * Types only. An envelope is what SMTP (or the HTTP API) said about a message:
 * the reverse path, the forward paths with their DSN parameters, and the body
 * type the client declared. Addresses here are already validated by protocol/
 * and ingress/; nothing downstream re-parses them.
 */

/** RFC 6152 / RFC 3030 body type declared with MAIL BODY=. */
export type BodyType = '7BIT' | '8BITMIME' | 'BINARYMIME';

/** RFC 3461 NOTIFY conditions. `NEVER` excludes the others. */
export type DsnNotify = 'SUCCESS' | 'FAILURE' | 'DELAY';

/** RFC 3461 ORCPT: an address type (usually `rfc822` or `utf-8`) and the decoded address. */
export interface OriginalRecipient {
  readonly addrType: string;
  readonly address: string;
}

export interface RecipientInput {
  /** Forward path as `local@domain` (domain lower-cased; local part preserved). */
  readonly address: string;
  /** Undefined when the client gave no NOTIFY; `[]` is never used: NEVER is `'NEVER'`. */
  readonly notify?: readonly DsnNotify[] | 'NEVER';
  readonly orcpt?: OriginalRecipient;
}

export interface EnvelopeInput {
  /** Reverse path as `local@domain`; `''` is the null sender `<>`. */
  readonly mailFrom: string;
  readonly recipients: readonly RecipientInput[];
  readonly bodyType: BodyType;
  readonly smtputf8: boolean;
  /** RFC 3461 RET. */
  readonly ret?: 'FULL' | 'HDRS';
  /** RFC 3461 ENVID, xtext-decoded. */
  readonly envid?: string;
  /** SIZE= the client declared, if any. */
  readonly declaredSize?: number;
}

/** How the message reached us; used for the Received header, policy and the API. */
export interface Origin {
  /** `smtp` for a listener, `http` for API injection, `bounce` for DSNs we generate. */
  readonly kind: 'smtp' | 'http' | 'bounce';
  /** Listener name (`address:port`) or `api`/`internal`. */
  readonly listener: string;
  readonly clientIp: string;
  readonly clientPort: number;
  /** EHLO/HELO argument as sent (already checked for control characters). */
  readonly helo: string;
  /** Reverse DNS name of the client if looked up, else undefined. */
  readonly clientName?: string;
  readonly authUser?: string;
  readonly tls?: { readonly protocol: string; readonly cipher: string };
  /** RFC 3848 with-protocol keyword: SMTP, ESMTP, ESMTPS, ESMTPA, ESMTPSA, UTF8SMTPS... or HTTP. */
  readonly protocol: string;
}
