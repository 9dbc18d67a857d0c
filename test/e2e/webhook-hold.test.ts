/**
 * A webhook whose receiver stays down holds its unsent events for at most
 * `feedback.webhookHold`: against a real mxpress (real DNS, real SMTP sink, a real
 * HTTP receiver answering 500), the history purge then deletes them, the webhook
 * skips past them and says so in `GET /api/v1/webhooks`, and once the receiver is
 * back it gets the new events and never the purged ones.
 */
import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { Receiver } from '../../src/feedback/webhooks/receiver.testkit.ts';
import { type DeliveryLab, startDeliveryLab } from '../harness/delivery-lab.ts';

const SECRET = 'a webhook secret of enough length';
/** Long enough that the first purge below comes well inside it on a loaded machine. */
const HOLD_MS = 1500;
let lab: DeliveryLab;
let receiver: Receiver;

before(async () => {
  receiver = new Receiver();
  receiver.answer = () => 500;
  const url = await receiver.listen();
  lab = await startDeliveryLab({
    mutate: (config) => ({
      ...config,
      feedback: {
        ...config.feedback,
        webhooks: [{ url: `${url}/hook`, secret: SECRET }],
        retentionMs: 50,
        webhookHoldMs: HOLD_MS,
      },
    }),
  });
});
after(async () => {
  await lab.close();
  await receiver.close();
});

const seqOf = (request: { headers: Record<string, unknown> }): number =>
  Number(String(request.headers['webhook-id']).replace(/^evt_/, ''));

it('events held past webhookHold are purged; the webhook skips them and says so', async () => {
  const first = await lab.submit('sender@dump.test', ['held@d1.test']);
  const delivered = await lab.waitForEvent((e) => e.type === 'delivered' && e.messageId === first);
  await receiver.waitFor(1);
  const base = `http://127.0.0.1:${lab.server.running.http!.port}`;
  const until = (at: number) => new Promise((resolve) => setTimeout(resolve, Math.max(0, at - Date.now())));
  // Times count from the message's last event, its delivery: on a loaded machine that can
  // come well after it was received, and the hold covers each event from its own time.
  await until(delivered.at + 100); // past the 50 ms retention
  const kept = await lab.server.running.purgeHistory();
  assert.equal(kept.events, 0, 'past the retention but inside the hold: the failing webhook keeps them');

  await until(delivered.at + HOLD_MS + 100);
  const purged = await lab.server.running.purgeHistory();
  assert.ok(purged.events >= 2, `received and delivered events purged (${purged.events})`);
  const status = (await (await fetch(`${base}/api/v1/webhooks`)).json()) as {
    webhooks: { cursor: number; skipped?: { events: number; throughSeq: number } }[];
  };
  const [hook] = status.webhooks;
  assert.ok(hook?.skipped, JSON.stringify(status));
  assert.ok(hook.skipped.throughSeq >= delivered.seq);
  assert.equal(hook.cursor, hook.skipped.throughSeq);
  assert.ok(hook.skipped.events >= 2);

  receiver.answer = () => 200;
  const second = await lab.submit('sender@dump.test', ['fresh@d1.test']);
  const next = await lab.waitForEvent((e) => e.type === 'delivered' && e.messageId === second);
  const deadline = Date.now() + 10_000;
  while (!receiver.requests.some((r) => seqOf(r) === next.seq)) {
    assert.ok(Date.now() < deadline, 'the recovered receiver gets the new events');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  const oldSeqs = new Set(
    receiver.requests.filter((r) => JSON.parse(r.body).data.messageId === first).map(seqOf),
  );
  assert.equal(
    oldSeqs.size,
    1,
    'of the purged events, only the one retried while the receiver was down went out',
  );
  assert.ok(!oldSeqs.has(delivered.seq), 'the purged delivered event was never sent');
});
