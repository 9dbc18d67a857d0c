/**
 * Hands `mxpress send`'s submissions to `POST /api/v1/messages`: JSON messages
 * through the shared ApiClient, raw ones as `message/rfc822` with the envelope in
 * the query (the one request ApiClient has no method for).
 *
 * Out: the accepted id and recipients, plus those the server refused (suppression
 * list). Fails with ApiUnreachableError (no answer, timeout) or ApiProblemError
 * (the server's RFC 9457 refusal). Every request has a time limit. Server answers
 * are UNTRUSTED and checked before use.
 */
import {
  type ApiClient,
  type ApiClientOptions,
  ApiProblemError,
  ApiUnreachableError,
  type Problem,
} from '../../api-client.ts';
import type { Submission } from './compose.ts';

const RAW_TIMEOUT_MS = 60_000;

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
  options: ApiClientOptions,
  submission: Extract<Submission, { kind: 'raw' }>,
): Promise<unknown> {
  const url = new URL(`${options.base}/api/v1/messages`);
  url.searchParams.set('from', submission.from);
  for (const to of submission.to) url.searchParams.append('to', to);
  let response: Response;
  try {
    response = await fetch(url, {
      method: 'POST',
      headers: {
        'content-type': 'message/rfc822',
        accept: 'application/json',
        ...(options.token ? { authorization: `Bearer ${options.token}` } : {}),
      },
      body: new Uint8Array(submission.message),
      signal: AbortSignal.timeout(RAW_TIMEOUT_MS),
    });
  } catch (error) {
    const cause = (error as { cause?: { code?: string } }).cause;
    throw new ApiUnreachableError(options.base, cause?.code ?? (error as Error).message);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(await response.text());
  } catch {
    parsed = undefined;
  }
  if (!response.ok) {
    const problem: Problem = {
      status: response.status,
      title: response.statusText,
      ...(typeof parsed === 'object' && parsed !== null ? (parsed as Problem) : {}),
    };
    throw new ApiProblemError(response.status, problem);
  }
  return parsed;
}

export async function submit(
  client: ApiClient,
  options: ApiClientOptions,
  submission: Submission,
): Promise<Accepted> {
  const answer =
    submission.kind === 'json'
      ? await client.postJson<unknown>('/api/v1/messages', submission.body)
      : await postRaw(options, submission);
  return checked(answer, options.base);
}
