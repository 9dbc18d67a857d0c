/**
 * Webhook signatures in the Standard Webhooks form.
 *
 * In: the configured secret, the message id (`evt_<seq>`), the attempt time in unix
 * seconds and the exact body bytes. Out: the `webhook-id`, `webhook-timestamp` and
 * `webhook-signature` headers, the last being `v1,<base64 HMAC-SHA256 of
 * "<id>.<timestamp>.<body>">`. A `whsec_` secret is keyed with its base64-decoded
 * bytes, any other secret with its UTF-8 bytes. Pure; never throws for a string
 * secret. The secret never leaves this module in any form but the MAC.
 */
import { createHmac } from 'node:crypto';

const PREFIX = 'whsec_';

/** The HMAC key of a configured secret. */
export function secretKey(secret: string): Buffer {
  return secret.startsWith(PREFIX)
    ? Buffer.from(secret.slice(PREFIX.length), 'base64')
    : Buffer.from(secret, 'utf8');
}

/** `v1,<base64 signature>` for one message. */
export function sign(secret: string, id: string, timestampSeconds: number, body: string): string {
  const mac = createHmac('sha256', secretKey(secret))
    .update(`${id}.${timestampSeconds}.${body}`)
    .digest('base64');
  return `v1,${mac}`;
}

export interface SignedHeaders {
  readonly 'webhook-id': string;
  readonly 'webhook-timestamp': string;
  readonly 'webhook-signature': string;
}

export function signedHeaders(
  secret: string,
  id: string,
  timestampSeconds: number,
  body: string,
): SignedHeaders {
  return {
    'webhook-id': id,
    'webhook-timestamp': String(timestampSeconds),
    'webhook-signature': sign(secret, id, timestampSeconds, body),
  };
}
