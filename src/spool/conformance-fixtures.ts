/**
 * Builders and helpers shared by the spool conformance suite (test code only).
 *
 * In: small overrides. Out: valid `NewMessage`s, events and updates; a harness
 * that opens a fresh spool per test and always closes and cleans it up; an
 * assertion that a promise rejects with a given MxError code. No I/O of its own.
 */
import assert from 'node:assert/strict';
import type { EnvelopeInput, Origin, RecipientInput } from '../contracts/envelope.ts';
import type { LifecycleEvent } from '../contracts/events.ts';
import type { NewMessage, Spool } from '../contracts/spool.ts';
import type { RecipientStatus } from '../contracts/status.ts';
import { MxError } from '../protocol/errors.ts';
import { newQueueId } from '../runtime/ids.ts';

export type MakeSpool = () => Promise<{ spool: Spool; cleanup(): Promise<void> }>;

/** A fixed epoch (2026-01-01T00:00:00Z) so due-time arithmetic reads clearly. */
export const T0 = 1_767_225_600_000;

export const ORIGIN: Origin = {
  kind: 'smtp',
  listener: '127.0.0.1:2525',
  clientIp: '127.0.0.1',
  clientPort: 40000,
  helo: 'client.test',
  protocol: 'ESMTP',
};

export interface MessageSpec {
  readonly id?: string;
  readonly receivedAt?: number;
  readonly from?: string;
  readonly to?: readonly (string | RecipientInput)[];
  readonly body?: Uint8Array;
  readonly initialStatus?: readonly RecipientStatus[];
  readonly tags?: Readonly<Record<string, string>>;
}

export function bytes(text: string): Uint8Array {
  return new TextEncoder().encode(text);
}

export function makeMessage(spec: MessageSpec = {}): NewMessage {
  const receivedAt = spec.receivedAt ?? T0;
  const recipients = (spec.to ?? ['rcpt@example.test']).map((r) =>
    typeof r === 'string' ? { address: r } : r,
  );
  const envelope: EnvelopeInput = {
    mailFrom: spec.from ?? 'sender@origin.test',
    recipients,
    bodyType: '8BITMIME',
    smtputf8: false,
  };
  const message: NewMessage = {
    id: spec.id ?? newQueueId(receivedAt),
    receivedAt,
    envelope,
    origin: ORIGIN,
    body: spec.body ?? bytes('Subject: test\r\n\r\nhello\r\n'),
    headers: { subject: 'test' },
    ...(spec.initialStatus === undefined ? {} : { initialStatus: spec.initialStatus }),
    ...(spec.tags === undefined ? {} : { tags: spec.tags }),
  };
  return message;
}

export function receivedEvent(message: NewMessage, at: number = message.receivedAt): LifecycleEvent {
  return {
    type: 'received',
    seq: 0,
    at,
    messageId: message.id,
    from: message.envelope.mailFrom,
    recipients: message.envelope.recipients.map((r) => r.address),
    size: message.body.byteLength,
    origin: { kind: message.origin.kind, clientIp: message.origin.clientIp },
  };
}

export function cancelledEvent(messageId: string, recipient: string, at: number): LifecycleEvent {
  return { type: 'cancelled', seq: 0, at, messageId, recipient };
}

/** Asserts that `promise` rejects with an `MxError` whose code is `code`. */
export async function rejectsWith(promise: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof MxError, `expected MxError, got ${String(error)}`);
    assert.equal(error.code, code);
    return true;
  });
}

/** Opens a fresh spool, runs `body`, then always closes it and cleans up. */
export async function withSpool(make: MakeSpool, body: (spool: Spool) => Promise<void>): Promise<void> {
  const { spool, cleanup } = await make();
  try {
    await spool.open();
    await body(spool);
  } finally {
    await spool.close();
    await cleanup();
  }
}

/** Deterministic pseudo-random bytes (xorshift32), so a failure is reproducible. */
export function patternBytes(length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}
