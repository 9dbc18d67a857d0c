/**
 * Hands `mxpress send`'s submissions to `POST /api/v1/messages` through the shared
 * ApiClient: JSON messages as JSON, raw ones as `message/rfc822` with the envelope in
 * the query.
 *
 * Out: the accepted id and recipients, plus those the server refused (suppression
 * list). Fails with ApiUnreachableError (no answer, timeout) or ApiProblemError
 * (the server's RFC 9457 refusal). Every request has a time limit. Server answers
 * are UNTRUSTED and checked before use.
 */
import { type ApiClient, ApiUnreachableError } from '../../api-client.ts';
import type { Submission } from './compose.ts';

export interface Accepted {
  readonly id: string;
  readonly recipients: readonly string[];
  readonly refused: readonly { address: string; code?: number; enhanced?: string; text?: string }[];
}

function checked(answer: unknown, base: string): Accepted {
  const a = answer as Partial<Accepted> | null;
  if (typeof a?.id !== 'string' || !Array.isArray(a.recipients)) {
    throw new ApiUnreachableError(base, 'the answer to POST /api/v1/messages has no id');
  }
  return {
    id: a.id,
    recipients: a.recipients.filter((r): r is string => typeof r === 'string'),
    refused: Array.isArray(a.refused) ? a.refused : [],
  };
}

async function postRaw(
  client: ApiClient,
  submission: Extract<Submission, { kind: 'raw' }>,
): Promise<unknown> {
  const response = await client.request('POST', '/api/v1/messages', {
    query: { from: submission.from, to: submission.to },
    body: { type: 'message/rfc822', data: new Uint8Array(submission.message) },
    accept: 'application/json',
  });
  try {
    return JSON.parse(await response.text());
  } catch {
    return undefined;
  }
}

export async function submit(client: ApiClient, submission: Submission): Promise<Accepted> {
  const answer =
    submission.kind === 'json'
      ? await client.postJson<unknown>('/api/v1/messages', submission.body)
      : await postRaw(client, submission);
  return checked(answer, client.base);
}
