/**
 * The acceptor's body: our trace fields, then the client's bytes unchanged, in a
 * buffer of its own, so that a spool client in another thread takes it without a
 * copy (the SMTP ingress thread's path: a real spool, attached client port).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { settled } from '../../test/harness/eventually.ts';
import { ORIGIN } from '../spool/conformance-fixtures.ts';
import { withSpool } from '../spool/sqlite/owner.testkit.ts';
import { SpoolPortClient } from '../spool/sqlite/port-client.ts';
import { createAcceptor } from './accept.ts';

const CLIENT_BYTES = [
  Buffer.from('From: a@origin.test\r\nTo: b@dest.test\r\nSubject: hi\r\n\r\n'),
  Buffer.from(`${'x'.repeat(70)}\r\n`.repeat(60)),
];

describe('accept', () => {
  for (const size of ['small', 'large'] as const) {
    it(`hands a ${size} message to a spool in another thread without copying it`, async () => {
      await withSpool(async ({ spool, handedOver }) => {
        const client = new SpoolPortClient(spool.attachClient());
        // What the acceptor still holds after the commit: a transferred body is detached.
        const kept: (Uint8Array | undefined)[] = [];
        const acceptor = createAcceptor({
          spool: client,
          hostname: 'mx.test',
          onAccepted: (_message, _input, body) => kept.push(body),
        });
        const content = size === 'small' ? [CLIENT_BYTES[0]!] : CLIENT_BYTES;
        const accepted = await acceptor.accept({
          envelope: {
            mailFrom: 'a@origin.test',
            recipients: [{ address: 'b@dest.test' }],
            bodyType: '7BIT',
            smtputf8: false,
          },
          origin: ORIGIN,
          content,
        });
        assert.deepEqual(kept, [undefined], 'the body went to the spool thread by transfer');
        await settled(() => handedOver.length === 1, true);
        const body = Buffer.from(handedOver[0]!.message.body);
        assert.equal(body.length, accepted.size);
        assert.match(body.toString('latin1'), /^Received: from /);
        const clientBytes = Buffer.concat(content);
        assert.deepEqual(body.subarray(body.length - clientBytes.length), clientBytes);
        assert.deepEqual(Buffer.from(await spool.readBody(accepted.id)), body);
        client.close();
      });
    });
  }
});
