/**
 * An in-process delivery lab for tests: a real DNS server on loopback serving MX
 * records, scriptable SMTP sinks on 127.0.0.x (all on one port, which mxpress
 * uses as its MX port), and a real mxpress pointed at them.
 *
 *   d1.test..d4.test  MX mx.dN.test -> 127.0.0.2  accepts everything
 *   nomx.test         no MX, A 127.0.0.2 (implicit MX)
 *   hard.test         MX -> 127.0.0.3  "550 5.1.1 No such user here" on RCPT
 *   soft.test         MX -> 127.0.0.4  "452 4.2.2 Mailbox full, try later" on RCPT
 *   down.test         MX -> 127.0.0.5  nothing listens: connection refused
 *   drop.test         MX -> 127.0.0.6  hangs up after the final dot
 *   dump.test         MX -> 127.0.0.7  accepts; bounce reports to sender@dump.test land here
 *   relay.test        A 127.0.0.8      a smarthost that accepts everything
 *   multi.test        MX 10 -> 127.0.0.5 (down), MX 20 -> 127.0.0.2
 *   seven.test        MX -> 127.0.0.9  accepts, but offers no 8BITMIME
 *   nodsn.test        MX -> 127.0.0.11 accepts, but offers no DSN
 *   nullmx.test       MX 0 "." (RFC 7505)
 *   servfail.test     SERVFAIL
 *   anything else     NXDOMAIN
 */
import type { Config } from '../../src/config/types.ts';
import type { LifecycleEvent } from '../../src/contracts/events.ts';
import { type DnsServer, startDnsServer, type Zone } from './dns-server.ts';
import { startTestServer, type TestServer, type TestServerOptions } from './mxpress.ts';
import { rawSession } from './raw-session.ts';
import { DEFAULT_EXTENSIONS, type SinkScript, type SmtpSink, startSmtpSink } from './smtp-sink.ts';

export interface DeliveryLab {
  readonly dns: DnsServer;
  readonly port: number;
  readonly sinks: {
    ok: SmtpSink;
    hard: SmtpSink;
    soft: SmtpSink;
    drop: SmtpSink;
    dump: SmtpSink;
    relay: SmtpSink;
    seven: SmtpSink;
    nodsn: SmtpSink;
  };
  readonly server: TestServer;
  readonly events: LifecycleEvent[];
  /** Submits a message over SMTP and returns its queue id. */
  submit(from: string, to: readonly string[], message?: string, rcptParams?: string): Promise<string>;
  waitFor<T extends LifecycleEvent>(predicate: (e: LifecycleEvent) => e is T, timeoutMs?: number): Promise<T>;
  waitForEvent(predicate: (e: LifecycleEvent) => boolean, timeoutMs?: number): Promise<LifecycleEvent>;
  close(): Promise<void>;
}

/**
 * A config change for `startDeliveryLab`'s `mutate`: a second listener, named `sync`,
 * whose DATA reply is the delivery verdict.
 */
export function withSyncListener(syncBudgetMs: number): (c: Config) => Config {
  return (c) => ({
    ...c,
    smtp: {
      ...c.smtp,
      listeners: [
        ...c.smtp.listeners,
        { ...c.smtp.listeners[0]!, name: 'sync', port: 0, deliveryMode: 'sync', syncBudgetMs },
      ],
    },
  });
}

export function labZone(): Zone {
  const zone: Zone = {};
  for (let i = 1; i <= 4; i++) {
    zone[`d${i}.test`] = { mx: [{ preference: 10, exchange: `mx.d${i}.test` }] };
    zone[`mx.d${i}.test`] = { a: ['127.0.0.2'] };
  }
  const mx = (name: string, ip: string): void => {
    zone[`${name}.test`] = { mx: [{ preference: 10, exchange: `mx.${name}.test` }] };
    zone[`mx.${name}.test`] = { a: [ip] };
  };
  mx('hard', '127.0.0.3');
  mx('soft', '127.0.0.4');
  mx('down', '127.0.0.5');
  mx('drop', '127.0.0.6');
  mx('dump', '127.0.0.7');
  mx('seven', '127.0.0.9');
  mx('nodsn', '127.0.0.11');
  zone['nomx.test'] = { a: ['127.0.0.2'] };
  zone['relay.test'] = { a: ['127.0.0.8'] };
  zone['multi.test'] = {
    mx: [
      { preference: 10, exchange: 'mx1.multi.test' },
      { preference: 20, exchange: 'mx2.multi.test' },
    ],
  };
  zone['mx1.multi.test'] = { a: ['127.0.0.5'] };
  zone['mx2.multi.test'] = { a: ['127.0.0.2'] };
  zone['nullmx.test'] = { mx: [{ preference: 0, exchange: '' }] };
  zone['servfail.test'] = { rcode: 'SERVFAIL' };
  return zone;
}

/**
 * All sinks share one port on their own addresses. The port is free on 127.0.0.2 when
 * chosen, but another test may hold it on another address: then start over elsewhere.
 */
async function startSinks(): Promise<
  Record<'ok' | 'hard' | 'soft' | 'drop' | 'dump' | 'relay' | 'seven' | 'nodsn', SmtpSink>
> {
  for (let attempt = 1; ; attempt++) {
    const started: SmtpSink[] = [];
    try {
      const ok = await startSmtpSink({ host: '127.0.0.2', port: 0 });
      started.push(ok);
      const port = ok.port;
      const more = async (host: string, script?: SinkScript): Promise<SmtpSink> => {
        const sink = await startSmtpSink({ host, port, ...(script ? { script } : {}) });
        started.push(sink);
        return sink;
      };
      const hard = await more('127.0.0.3', { onRcpt: () => '550 5.1.1 No such user here' });
      const soft = await more('127.0.0.4', { onRcpt: () => '452 4.2.2 Mailbox full, try later' });
      const drop = await more('127.0.0.6', { hangupAfterDot: true });
      const dump = await more('127.0.0.7');
      const relay = await more('127.0.0.8');
      const seven = await more('127.0.0.9', {
        extensions: DEFAULT_EXTENSIONS.filter((e) => e !== '8BITMIME'),
      });
      const nodsn = await more('127.0.0.11', { extensions: DEFAULT_EXTENSIONS.filter((e) => e !== 'DSN') });
      return { ok, hard, soft, drop, dump, relay, seven, nodsn };
    } catch (error) {
      await Promise.all(started.map((s) => s.close()));
      if (attempt >= 5 || (error as { code?: string }).code !== 'EADDRINUSE') throw error;
    }
  }
}

export async function startDeliveryLab(options: TestServerOptions = {}): Promise<DeliveryLab> {
  const dns = await startDnsServer({ zone: labZone() });
  const { ok, hard, soft, drop, dump, relay, seven, nodsn } = await startSinks();
  const port = ok.port;
  const server = await startTestServer({
    ...options,
    argv: [
      '--dns-server',
      dns.address,
      '--mx-port',
      String(port),
      '--retry-intervals',
      '300ms,500ms',
      '--max-queue-time',
      '2500ms',
      ...(options.argv ?? []),
    ],
  });
  const events: LifecycleEvent[] = [];
  const waiters = new Set<() => void>();
  server.running.events.subscribe((e) => {
    events.push(e);
    for (const w of waiters) w();
  });

  const waitForEvent = (
    predicate: (e: LifecycleEvent) => boolean,
    timeoutMs = 8000,
  ): Promise<LifecycleEvent> =>
    new Promise((resolve, reject) => {
      const found = events.find(predicate);
      if (found) return resolve(found);
      const check = (): void => {
        const hit = events.find(predicate);
        if (hit) {
          waiters.delete(check);
          clearTimeout(timer);
          resolve(hit);
        }
      };
      const timer = setTimeout(() => {
        waiters.delete(check);
        reject(
          new Error(
            `no matching event within ${timeoutMs} ms; saw ${events.map((e) => `${e.type}:${e.messageId.slice(-4)}`).join(' ')}`,
          ),
        );
      }, timeoutMs);
      waiters.add(check);
    });

  return {
    dns,
    port,
    sinks: { ok, hard, soft, drop, dump, relay, seven, nodsn },
    server,
    events,
    async submit(from, to, message = 'Subject: lab\r\n\r\nhello\r\n', rcptParams = '') {
      const s = await rawSession(server.port);
      try {
        await s.expect(220);
        await s.command('EHLO app.example', 250);
        await s.command(`MAIL FROM:<${from}>`, 250);
        for (const r of to) await s.command(`RCPT TO:<${r}>${rcptParams}`, 250);
        await s.command('DATA', 354);
        s.send(message);
        const lines = await s.command('.', 250);
        const id = /queued as ([0-9A-Z]{26})/.exec(lines[0]!)?.[1];
        if (!id) throw new Error(`no queue id in ${lines[0]}`);
        return id;
      } finally {
        s.close();
      }
    },
    waitFor: <T extends LifecycleEvent>(predicate: (e: LifecycleEvent) => e is T, timeoutMs?: number) =>
      waitForEvent(predicate, timeoutMs) as Promise<T>,
    waitForEvent,
    async close() {
      await server.stop();
      await Promise.all([ok, hard, soft, drop, dump, relay, seven, nodsn].map((s) => s.close()));
      await dns.close();
    },
  };
}
