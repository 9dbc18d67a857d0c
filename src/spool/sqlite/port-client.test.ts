/**
 * A client in another thread (here: on an attached port, driven from this thread):
 * its commits are durable like the owner's, handed over to the owner with the body,
 * and every stored event, from either side, reaches the owner's `onStored` once and
 * in seq order. A closed port or spool fails pending and later commits.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { settled } from '../../../test/harness/eventually.ts';
import type { LifecycleEvent } from '../../contracts/events.ts';
import { makeMessage, patternBytes, receivedEvent, rejectsWith } from '../conformance-fixtures.ts';
import { withSpool } from './owner.testkit.ts';
import { SpoolPortClient } from './port-client.ts';

describe('SpoolPortClient', () => {
  it('commits durably and hands the message, body included, to the owner', async () => {
    await withSpool(async ({ spool, stored, handedOver }) => {
      const client = new SpoolPortClient(spool.attachClient());
      const body = Buffer.from(patternBytes(200_000, 7));
      const message = makeMessage({ to: ['a@x.test', 'b@y.test'], body: Uint8Array.from(body) });
      const returned = await client.commit(message, { events: [receivedEvent(message)] });
      assert.equal(returned.length, 1);
      assert.ok(returned[0]!.seq > 0);
      // The owner heard of it: the stored event (same seq) and the message with its body.
      await settled(() => handedOver.length === 1, true);
      assert.deepEqual(
        stored.map((e) => e.seq),
        [returned[0]!.seq],
      );
      assert.equal(handedOver[0]!.message.id, message.id);
      assert.deepEqual(Buffer.from(handedOver[0]!.message.body), body);
      assert.deepEqual(handedOver[0]!.events, returned);
      // And it is in the spool like any other message.
      const read = await spool.getMessage(message.id);
      assert.deepEqual(
        read?.recipients.map((r) => r.status),
        ['queued', 'queued'],
      );
      assert.deepEqual(Buffer.from(await spool.readBody(message.id)), body);
      client.close();
    });
  });

  it("gives the owner every stored event once, in seq order, its own and the client's", async () => {
    await withSpool(async ({ spool, stored }) => {
      const client = new SpoolPortClient(spool.attachClient());
      const work: Promise<unknown>[] = [];
      for (let i = 0; i < 40; i++) {
        const message = makeMessage({ to: [`r${i}@x.test`] });
        const options = { events: [receivedEvent(message)] };
        work.push(i % 2 === 0 ? client.commit(message, options) : spool.commit(message, options));
      }
      const results = (await Promise.all(work)) as (readonly LifecycleEvent[])[];
      await settled(() => stored.length === 40, true);
      const seqs = stored.map((e) => e.seq);
      assert.deepEqual(
        seqs,
        [...seqs].sort((a, b) => a - b),
        'published in seq order',
      );
      assert.equal(new Set(seqs).size, 40, 'each once');
      assert.deepEqual(new Set(seqs), new Set(results.flat().map((e) => e.seq)));
      client.close();
    });
  });

  it('fails commits once its port or the spool is closed', async () => {
    await withSpool(async ({ spool }) => {
      const client = new SpoolPortClient(spool.attachClient());
      client.close();
      await rejectsWith(client.commit(makeMessage()), 'SPOOL_CLOSED');
      const other = new SpoolPortClient(spool.attachClient());
      await other.commit(makeMessage());
      await spool.close();
      // Sent before this thread has heard the port close: it fails when it does.
      await rejectsWith(other.commit(makeMessage()), 'SPOOL_CLOSED');
      await rejectsWith(other.commit(makeMessage()), 'SPOOL_CLOSED');
    });
  });

  it('refuses an invalid message before anything is sent', async () => {
    await withSpool(async ({ spool }) => {
      const client = new SpoolPortClient(spool.attachClient());
      await rejectsWith(client.commit({ ...makeMessage(), id: '' }), 'SPOOL_IO');
      client.close();
    });
  });
});
