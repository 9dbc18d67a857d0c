/**
 * Child process: the fallback receiving sink (the test harness's JS SMTP sink),
 * used when Postfix's smtp-sink is not installed.
 *
 * Started with fork() by bench/sinks.ts: argv is `<host> <port> <accept|defer>`.
 * `accept` takes every message; `defer` answers every RCPT with 451 4.3.0.
 * Sends `{ type: 'ready', port }` once listening, then `{ type: 'count', count,
 * sessions, t }` whenever the number of accepted messages changed (at most every
 * 20 ms), and `{ type: 'domains', domains }` (messages and distinct connections
 * per recipient domain) when asked with `{ type: 'report' }`. Accepted messages
 * are counted and dropped at once, so memory stays flat. Exits when the parent
 * disconnects or on SIGTERM. Input is mxpress's delivery traffic on loopback.
 */
import { startSmtpSink } from '../test/harness/smtp-sink.ts';

if (process.send !== undefined) {
  const send = process.send.bind(process);
  const host = process.argv[2] ?? '127.0.0.2';
  const port = Number(process.argv[3] ?? 0);
  const mode = process.argv[4] === 'defer' ? 'defer' : 'accept';
  const sink = await startSmtpSink({
    host,
    port,
    script: mode === 'defer' ? { onRcpt: () => '451 4.3.0 Try again later' } : {},
  });
  const perDomain = new Map<string, { messages: number; connections: Set<number> }>();
  let count = 0;
  let reported = -1;
  const drain = (): void => {
    const taken = sink.messages.splice(0);
    for (const m of taken) {
      const domain = m.rcptTo[0]?.split('@')[1] ?? '';
      let entry = perDomain.get(domain);
      if (entry === undefined) {
        entry = { messages: 0, connections: new Set() };
        perDomain.set(domain, entry);
      }
      entry.messages += 1;
      entry.connections.add(m.connectionId);
    }
    count += taken.length;
    if (count !== reported) {
      reported = count;
      send({ type: 'count', count, sessions: sink.connectionCount, t: Date.now() });
    }
  };
  const timer = setInterval(drain, 20);
  process.on('message', (message: { type?: string }) => {
    if (message.type !== 'report') return;
    drain();
    const domains = [...perDomain].map(([domain, e]) => ({
      domain,
      messages: e.messages,
      connections: e.connections.size,
    }));
    send({ type: 'domains', domains });
  });
  const stop = (): void => {
    clearInterval(timer);
    sink.close().finally(() => process.exit(0));
  };
  process.on('disconnect', stop);
  process.on('SIGTERM', stop);
  send({ type: 'ready', port: sink.port });
}
