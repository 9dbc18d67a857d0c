/**
 * Micro benchmark: what a commit costs to cross between threads, as an object graph
 * (V8's structured clone, what `postMessage` does) and packed as JSON text
 * (src/spool/sqlite/protocol.ts `packRequest`, `unpackRequest`, `handedOverFrom`).
 *
 * A commit shaped like one SMTP message's (one recipient, its received event) crosses
 * twice: from the SMTP ingress thread to the spool's, and from there, once synced, to
 * the main thread that delivers it. Each side of each crossing is timed on its own:
 * what the sender spends (serialize, after packing) and what the receiver spends
 * (deserialize, then unpacking). The body is left out of both forms (it is
 * transferred, not cloned); an update is shown as objects only (it crosses so).
 * Prints the median over rounds of microseconds per message.
 * Usage: npx node bench/wire-codec.ts [--rounds N] [--count N]
 */
import { parseArgs } from 'node:util';
import { deserialize, serialize } from 'node:v8';
import type { LifecycleEvent } from '../src/contracts/events.ts';
import { makeMessage, ORIGIN, receivedEvent, T0 } from '../src/spool/conformance-fixtures.ts';
import {
  type HandedOverWire,
  handedOverFrom,
  packRequest,
  type Request,
  unpackRequest,
  type WireRequest,
} from '../src/spool/sqlite/protocol.ts';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '7' },
    count: { type: 'string', default: '20000' },
  },
});
const rounds = Number(values.rounds);
const count = Number(values.count);

const base = makeMessage({ from: 'bench@lab.test', to: ['u1@d1.test'], body: new Uint8Array(0) });
const message = {
  ...base,
  origin: { ...ORIGIN, clientName: 'client.lab.test' },
  headers: {
    subject: 'Quarterly figures',
    from: 'Bench <bench@lab.test>',
    to: '<u1@d1.test>',
    'message-id': `<${base.id}@lab.test>`,
  },
  tags: {},
};
const attempt = {
  at: T0 + 1,
  durationMs: 3,
  mxHost: 'mx.d1.test',
  ip: '127.0.0.2',
  port: 25,
  route: 'direct',
  outcome: 'delivered' as const,
  reply: { code: 250, enhanced: '2.0.0', text: 'Ok: queued as 4XfT2m0Qz' },
};
const delivered: LifecycleEvent = {
  type: 'delivered',
  seq: 0,
  at: T0 + 4,
  messageId: message.id,
  recipient: 'u1@d1.test',
  attempt,
};
const commit: Request = {
  id: 1,
  op: 'commit',
  args: [message, { claimFor: { owner: 'node', leaseMs: 600_000 }, events: [receivedEvent(message)] }],
  handOver: true,
};
const update: Request = {
  id: 2,
  op: 'update',
  args: [
    [
      {
        messageId: message.id,
        index: 0,
        status: 'delivered',
        attempt,
        lastReply: attempt.reply,
        route: 'direct',
      },
    ],
    [delivered],
  ],
};

/** Microseconds per call of `run`, over `count` calls. */
function perCall(run: (i: number) => void): number {
  const start = performance.now();
  for (let i = 0; i < count; i++) run(i);
  return ((performance.now() - start) * 1000) / count;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

/** The four sides of a commit's two crossings, in one form. */
interface Form {
  send(): Buffer;
  receive(bytes: Buffer): unknown;
  handOver(received: unknown): Buffer;
  deliver(bytes: Buffer): unknown;
}

const objects: Form = {
  send: () => serialize([commit]),
  receive: (bytes) => deserialize(bytes),
  handOver: (received) => {
    const [request] = received as Request[];
    if (request?.op !== 'commit') throw new Error('not a commit');
    return serialize({ handedOver: [{ message: request.args[0], events: request.args[1]?.events }] });
  },
  deliver: (bytes) => deserialize(bytes),
};

const packed: Form = {
  send: () => serialize([packRequest(commit)]),
  receive: (bytes) => {
    const [wire] = deserialize(bytes) as WireRequest[];
    return { wire, request: unpackRequest(wire!) };
  },
  handOver: (received) => {
    const { wire } = received as { wire: WireRequest };
    if (!('packed' in wire)) throw new Error('not packed');
    return serialize({ handedOver: [{ packed: wire.packed, body: wire.body, seqs: [1] }] });
  },
  deliver: (bytes) => (deserialize(bytes) as { handedOver: HandedOverWire[] }).handedOver.map(handedOverFrom),
};

const SIDES = ['send', 'receive', 'handOver', 'deliver'] as const;
const LABELS = {
  send: 'ingress sends',
  receive: 'spool receives',
  handOver: 'spool hands over',
  deliver: 'main receives',
};

function measure(form: Form): Record<(typeof SIDES)[number], number> {
  const times = {
    send: [] as number[],
    receive: [] as number[],
    handOver: [] as number[],
    deliver: [] as number[],
  };
  for (let round = 0; round < rounds; round++) {
    const sent: Buffer[] = new Array(count);
    const received: unknown[] = new Array(count);
    const handed: Buffer[] = new Array(count);
    times.send.push(perCall((i) => (sent[i] = form.send())));
    times.receive.push(perCall((i) => (received[i] = form.receive(sent[i]!))));
    times.handOver.push(perCall((i) => (handed[i] = form.handOver(received[i]))));
    times.deliver.push(perCall((i) => form.deliver(handed[i]!)));
  }
  return {
    send: median(times.send),
    receive: median(times.receive),
    handOver: median(times.handOver),
    deliver: median(times.deliver),
  };
}

console.log(`wire codec: µs per message, median of ${rounds} rounds of ${count}`);
const a = measure(objects);
const b = measure(packed);
console.log(`  ${''.padEnd(17)} objects  packed`);
for (const side of SIDES)
  console.log(
    `  ${LABELS[side].padEnd(17)} ${a[side].toFixed(2).padStart(7)} ${b[side].toFixed(2).padStart(7)}`,
  );
const sum = (x: Record<(typeof SIDES)[number], number>) => SIDES.reduce((total, side) => total + x[side], 0);
console.log(
  `  ${'both crossings'.padEnd(17)} ${sum(a).toFixed(2).padStart(7)} ${sum(b).toFixed(2).padStart(7)}`,
);
const clone: number[] = [];
for (let round = 0; round < rounds; round++) clone.push(perCall(() => deserialize(serialize([update]))));
console.log(`  an update, as objects, both sides: ${median(clone).toFixed(2)}`);
