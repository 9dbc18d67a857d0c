/**
 * The wire form of requests: a packed commit carries everything the engine stores
 * (what JSON keeps is what the spool keeps), its body goes beside the text, and every
 * other request crosses as it is.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { LifecycleEvent } from '../../contracts/events.ts';
import type { RecipientUpdate } from '../../contracts/spool.ts';
import { bytes, makeMessage, receivedEvent, T0 } from '../conformance-fixtures.ts';
import { handedOverFrom, packRequest, type Request, unpackRequest, type WireRequest } from './protocol.ts';

const message = makeMessage({
  to: [
    'a@x.test',
    { address: 'b@y.test', notify: ['FAILURE', 'DELAY'], orcpt: { addrType: 'rfc822', address: 'b@y.test' } },
  ],
  tags: { deliveryMode: 'sync' },
  body: bytes('Subject: wire\r\n\r\nbody\r\n'),
});

const delivered: LifecycleEvent = {
  type: 'delivered',
  seq: 0,
  at: T0 + 5,
  messageId: message.id,
  recipient: 'a@x.test',
  attempt: {
    at: T0 + 1,
    durationMs: 4,
    mxHost: 'mx.x.test',
    ip: '127.0.0.2',
    port: 25,
    route: 'direct',
    outcome: 'delivered',
    reply: { code: 250, enhanced: '2.0.0', text: 'Ok: queued as ABC' },
  },
};

const update: RecipientUpdate = {
  messageId: message.id,
  index: 0,
  status: 'delivered',
  attempt: delivered.type === 'delivered' ? delivered.attempt : undefined!,
  lastReply: { code: 250, enhanced: '2.0.0', text: 'Ok: queued as ABC' },
  route: 'direct',
};

describe('wire requests', () => {
  it('packs a commit into text and its body, and unpacks it whole', () => {
    const options = { claimFor: { owner: 'node-1', leaseMs: 60_000 }, events: [receivedEvent(message)] };
    const request: Request = { id: 7, op: 'commit', args: [message, options], company: true, handOver: true };
    const wire = packRequest(request);
    assert.ok('packed' in wire && typeof wire.packed === 'string');
    assert.equal(wire.body, message.body, 'the body goes beside the text, the same bytes');
    assert.ok(!wire.packed.includes('"body"'), 'the body is not in the text');
    assert.deepEqual(unpackRequest(structuredClone(wire)), request);
  });

  it('keeps a commit without options so', () => {
    const commit: Request = { id: 1, op: 'commit', args: [message, undefined] };
    assert.deepEqual(unpackRequest(packRequest(commit)), commit);
  });

  it('sends every other request as it is', () => {
    const updates: Request = { id: 3, op: 'update', args: [[update], [delivered]] };
    assert.equal(packRequest(updates), updates);
    assert.equal(unpackRequest(updates), updates);
    const claim: Request = {
      id: 4,
      op: 'claimDue',
      args: [{ owner: 'n', now: T0, limit: 10, leaseMs: 1000 }],
    };
    assert.equal(packRequest(claim), claim);
  });

  it('refuses a packed commit that lost its body', () => {
    const wire = packRequest({ id: 5, op: 'commit', args: [message, undefined] });
    assert.ok('packed' in wire);
    const lost = { id: 5, op: 'commit', packed: wire.packed } as unknown as WireRequest;
    assert.throws(() => unpackRequest(lost), TypeError);
  });

  it('rebuilds a handed-over message and its events with the seqs they got', () => {
    const events = [receivedEvent(message)];
    const wire = packRequest({ id: 6, op: 'commit', args: [message, { events }], handOver: true });
    assert.ok('packed' in wire && wire.body !== undefined);
    const handed = handedOverFrom({ packed: wire.packed, body: wire.body, seqs: [41] });
    assert.deepEqual(handed.message, message);
    assert.deepEqual(handed.events, [{ ...events[0]!, seq: 41 }]);
  });
});
