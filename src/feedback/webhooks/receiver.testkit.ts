/**
 * Test kit for webhooks: a real HTTP receiver on 127.0.0.1 that records every
 * request and answers as the test says (a status, or never), and an in-memory
 * event source with the spool's `eventsSince` semantics. Test-only.
 */
import { once } from 'node:events';
import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { DeliveredEvent, LifecycleEvent } from '../../contracts/events.ts';

export interface Received {
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
  readonly url: string;
}

/** What to answer: a status code, or 'hang' to never answer (until the receiver closes). */
export type Answer = number | 'hang';

export class Receiver {
  readonly requests: Received[] = [];
  answer: (request: Received, index: number) => Answer = () => 204;
  readonly #server: Server;
  readonly #hanging = new Set<ServerResponse>();
  #waiters: (() => void)[] = [];

  constructor() {
    this.#server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const received = {
          headers: req.headers,
          body: Buffer.concat(chunks).toString('utf8'),
          url: req.url ?? '',
        };
        this.requests.push(received);
        const answer = this.answer(received, this.requests.length - 1);
        if (answer === 'hang') this.#hanging.add(res);
        else res.writeHead(answer, { 'content-type': 'text/plain' }).end('ok');
        for (const w of this.#waiters) w();
      });
    });
  }

  async listen(): Promise<string> {
    this.#server.listen(0, '127.0.0.1');
    await once(this.#server, 'listening');
    return `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
  }

  /** Resolves once `count` requests have arrived; rejects after `timeoutMs`. */
  async waitFor(count: number, timeoutMs = 5000): Promise<Received[]> {
    const deadline = Date.now() + timeoutMs;
    while (this.requests.length < count) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${count} requests (got ${this.requests.length})`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, left);
        function done(): void {
          clearTimeout(timer);
          resolve();
        }
        this.#waiters.push(done);
      });
      this.#waiters = [];
    }
    return this.requests.slice(0, count);
  }

  async close(): Promise<void> {
    for (const res of this.#hanging) res.destroy();
    this.#server.closeAllConnections();
    this.#server.close();
    await once(this.#server, 'close');
  }
}

/** Stored events with seq 1, 2, ...; `eventsSince` behaves like the spool's. */
export class EventSource {
  readonly events: LifecycleEvent[] = [];

  add(count: number, type: 'delivered' | 'expired' = 'delivered'): void {
    for (let i = 0; i < count; i++) {
      const seq = this.events.length + 1;
      const base = {
        seq,
        at: 1_700_000_000_000 + seq * 1000,
        messageId: `M${seq}`,
        recipient: `r${seq}@example.com`,
      };
      this.events.push(
        type === 'delivered'
          ? ({
              ...base,
              type: 'delivered',
              attempt: { at: base.at, durationMs: 5, route: 'direct', outcome: 'delivered' },
            } satisfies DeliveredEvent)
          : { ...base, type: 'expired' },
      );
    }
  }

  readonly eventsSince = async (after: number, limit: number): Promise<LifecycleEvent[]> =>
    this.events.filter((e) => e.seq > after).slice(0, limit);
}

/** The seq of each received request, from its webhook-id header. */
export function seqs(requests: readonly Received[]): number[] {
  return requests.map((r) => Number(String(r.headers['webhook-id']).replace(/^evt_/, '')));
}
