/**
 * Seeded SMTP protocol fuzzer against a real mxpress on loopback.
 *
 * Many parallel connections send bursts of valid, mutated and random command
 * lines (bytes flipped, CR/LF/NUL inserted, long lines, unknown verbs, non-UTF-8),
 * DATA bodies with random content and BDAT transactions with random chunking, all
 * written in 1-, 3- or 17-byte pieces or whole. Each burst ends with HELP as a
 * sentinel: only HELP is answered with 214, and in command mode the server answers
 * every LF exactly once, so the fuzzer knows how many replies it is owed and
 * notices any unsolicited or missing one. Every reply line must be well formed
 * (code 2xx-5xx, an enhanced status code except on the greeting, the EHLO/HELO
 * hello and 354/334). At the end a clean session must still get a message queued.
 * Inputs are untrusted by design; the seed is printed (MXPRESS_FUZZ_SEED overrides).
 */
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { after, before, it } from 'node:test';
import { LineReader } from '../harness/line-reader.ts';
import { startTestServer, type TestServer } from '../harness/mxpress.ts';
import { SeededRandom } from '../harness/prng.ts';
import { rawSession } from '../harness/raw-session.ts';

const SEED = Number(process.env.MXPRESS_FUZZ_SEED ?? 0x5ec0de);
const TARGET_INPUTS = 100_000;
const WORKERS = 24;
const REPLY_TIMEOUT_MS = 20_000;
const LINE = /^\d{3}([ -]|$)/;
const ENHANCED = /^\d{3}[ -]\d\.\d{1,3}\.\d{1,3}( |$)/;
/**
 * Lines starting with these change the framing, look like the sentinel, or (EHLO/HELO)
 * must not be pipelined (the server rightly hangs up); bursts never contain one.
 */
const FRAMING_VERB = /^(data|bdat|starttls|quit|auth|help|ehlo|helo)/i;

class Rng extends SeededRandom {
  bytes(length: number, alphabet?: string): Buffer {
    const out = Buffer.alloc(length);
    for (let i = 0; i < length; i++)
      out[i] = alphabet ? alphabet.charCodeAt(this.int(alphabet.length)) : this.int(256);
    return out;
  }
}

const VALID_LINES = [
  'EHLO client.example',
  'HELO client.example',
  'EHLO [127.0.0.1]',
  'MAIL FROM:<a@example.net>',
  'MAIL FROM:<> BODY=8BITMIME',
  'MAIL FROM:<a@example.net> SIZE=1000 RET=HDRS ENVID=abc+2Bdef',
  'MAIL FROM:<ü@exämple.net> SMTPUTF8',
  'RCPT TO:<b@example.org>',
  'RCPT TO:<c@example.org> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;c+40example.org',
  'RCPT TO:<"quoted local"@example.org>',
  'RCPT TO:<postmaster>',
  'RSET',
  'NOOP',
  'NOOP some text',
  'VRFY someone',
  'EXPN list',
];
const PRINTABLE =
  ' !"#$%&\'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~';
const SPECIAL = ['\r', '\n', '\0', '\r\n', '\n.', '.\r\n', '\x7f', '\xff', '\t'];

/** A mutated copy of a line: byte flips, inserted CR/LF/NUL, deletions, duplications. */
function mutate(rng: Rng, line: Buffer): Buffer {
  let out = line;
  const edits = 1 + rng.int(4);
  for (let e = 0; e < edits; e++) {
    const at = rng.int(out.length + 1);
    switch (rng.int(5)) {
      case 0: {
        if (out.length === 0) break;
        const copy = Buffer.from(out);
        const i = rng.int(copy.length);
        copy[i] = copy[i]! ^ (1 << rng.int(8));
        out = copy;
        break;
      }
      case 1:
        out = Buffer.concat([
          out.subarray(0, at),
          Buffer.from(rng.pick(SPECIAL), 'latin1'),
          out.subarray(at),
        ]);
        break;
      case 2:
        out = Buffer.concat([out.subarray(0, at), out.subarray(at + 1 + rng.int(4))]);
        break;
      case 3:
        out = Buffer.concat([out.subarray(0, at), out.subarray(at, at + rng.int(12)), out.subarray(at)]);
        break;
      default:
        out = Buffer.concat([out.subarray(0, at), rng.bytes(1 + rng.int(6)), out.subarray(at)]);
    }
  }
  return out;
}

/** One command-mode input: a valid, mutated, random, long or unknown-verb line, CRLF-terminated mostly. */
function commandInput(rng: Rng): Buffer {
  const roll = rng.int(10);
  let line: Buffer;
  if (roll < 3) line = Buffer.from(rng.pick(VALID_LINES));
  else if (roll < 7) line = mutate(rng, Buffer.from(rng.pick(VALID_LINES)));
  else if (roll === 7) line = rng.bytes(rng.int(80), rng.chance(0.5) ? PRINTABLE : undefined);
  else if (roll === 8)
    line = Buffer.from(
      `${rng.bytes(3 + rng.int(8), 'ABCDEFGHIJKLMNOPQRSTUVWXYZ').toString()} ${'x'.repeat(rng.int(30))}`,
    );
  else line = Buffer.concat([Buffer.from('NOOP '), rng.bytes(1000 + rng.int(4000), PRINTABLE)]);
  return rng.chance(0.95) ? Buffer.concat([line, Buffer.from('\r\n')]) : line;
}

/** True when some LF-delimited piece of the burst would start DATA, BDAT, STARTTLS, QUIT or AUTH. */
function changesFraming(burst: Buffer): boolean {
  return burst
    .toString('latin1')
    .split('\n')
    .some((piece) => FRAMING_VERB.test(piece.replace(/^[\r\0 \t]+/, '')));
}

function countLf(bytes: Buffer): number {
  let n = 0;
  for (const b of bytes) if (b === 0x0a) n++;
  return n;
}

/** A message body: mostly a plain message, sometimes with bare CR/LF/NUL, long lines or random bytes; dot-stuffed. */
function dataBody(rng: Rng): Buffer {
  let text = `Subject: fuzz ${rng.int(1e6)}\r\n\r\n`;
  const lines = rng.int(20);
  for (let i = 0; i < lines; i++) {
    const roll = rng.int(10);
    if (roll < 6) text += rng.bytes(rng.int(100), PRINTABLE).toString('latin1');
    else if (roll < 8) text += mutate(rng, Buffer.from('.line with a dot')).toString('latin1');
    else if (roll === 8) text += 'y'.repeat(900 + rng.int(300));
    else text += rng.bytes(rng.int(60)).toString('latin1');
    text += '\r\n';
  }
  // Stuff the dots so the body never ends the message early; a bare CR/LF inside still may not.
  text = text.replace(/(^|\r\n)\./g, '$1..');
  return Buffer.from(`${text}.\r\n`, 'latin1');
}

interface Stats {
  inputs: number;
  connections: number;
  bursts: number;
  queued: number;
}

class FuzzConnection {
  readonly socket: Socket;
  readonly reader: LineReader;
  closed = false;
  constructor(socket: Socket) {
    this.socket = socket;
    this.reader = new LineReader(socket);
    socket.setNoDelay(true);
    socket.on('close', () => {
      this.closed = true;
    });
  }
  /** Writes in pieces of `size` bytes (0: whole). */
  async write(bytes: Buffer, size: number): Promise<void> {
    if (this.closed) return;
    if (size === 0) {
      this.socket.write(bytes);
      return;
    }
    for (let i = 0; i < bytes.length; i += size) {
      this.socket.write(bytes.subarray(i, i + size));
      if (i % (size * 64) === 0) await new Promise((resolve) => setImmediate(resolve));
    }
  }
  /** Reads one reply and checks its shape; undefined when the server closed. */
  async reply(): Promise<{ code: number; lines: string[] } | undefined> {
    const reply = await this.reader.reply(REPLY_TIMEOUT_MS);
    if (!reply) return undefined;
    const first = reply.lines[0]!;
    for (const line of reply.lines) {
      assert.match(line, LINE, `malformed reply line ${JSON.stringify(line)}`);
      assert.equal(
        line.slice(0, 3),
        first.slice(0, 3),
        `code changes inside a reply: ${reply.lines.join(' | ')}`,
      );
    }
    assert.ok(reply.code >= 200 && reply.code < 600, `reply code out of range: ${first}`);
    const hello = reply.code === 250 && / Hello \[/.test(first);
    if (!hello && reply.code !== 354 && reply.code !== 334) {
      for (const line of reply.lines)
        assert.match(line, ENHANCED, `no enhanced status code: ${JSON.stringify(line)}`);
    }
    return reply;
  }
}

async function open(server: TestServer): Promise<FuzzConnection> {
  const socket = connect(server.port, server.host);
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  const c = new FuzzConnection(socket);
  const greeting = await c.reader.reply(REPLY_TIMEOUT_MS);
  assert.ok(greeting, 'closed before the greeting');
  assert.equal(greeting.code, 220, greeting.lines.join(' | '));
  for (const line of greeting.lines) assert.match(line, LINE);
  // Pipelining (which every burst uses) needs EHLO first; without it the server hangs up (tested elsewhere).
  c.socket.write('EHLO fuzzer.example\r\n');
  const hello = await c.reply();
  assert.equal(hello?.code, 250);
  return c;
}

/** Replies after which the server hangs up: too many errors, bare CR/LF in data, improper pipelining. */
function closing(reply: { code: number; lines: string[] }): boolean {
  return reply.code === 421 || reply.code === 521 || /^554 5\.5\.0 .*pipelining/.test(reply.lines[0]!);
}

/**
 * Reads the `owed` replies of a command-mode burst: exactly `owed` of them with
 * the last a 214, unless the server closed the connection (then at most `owed`).
 */
async function collect(c: FuzzConnection, owed: number, context: string): Promise<'open' | 'closed'> {
  for (let got = 0; ; ) {
    const reply = await c.reply();
    if (!reply) {
      assert.ok(got <= owed, `${got} replies for ${owed} lines before the close (${context})`);
      return 'closed';
    }
    got++;
    if (reply.code === 214 && reply.lines[0]!.includes('mxpress supports')) {
      assert.equal(got, owed, `${got} replies for ${owed} lines (${context})`);
      return 'open';
    }
    assert.ok(got < owed, `reply beyond the ${owed} owed: ${reply.lines.join(' | ')} (${context})`);
    if (closing(reply)) {
      // A closing reply: nothing else may follow.
      assert.equal(await c.reply(), undefined, `reply after a closing ${reply.code} (${context})`);
      return 'closed';
    }
  }
}

const HELP = Buffer.from('HELP\r\n');

/**
 * Write piece size: 1, 3 or 17 bytes, or whole. Thousands of tiny segments in flight
 * stall loopback TCP (receive-buffer overhead), so 1 and 3 are kept for inputs up to
 * 400 bytes and 17 for inputs up to 4,000.
 */
function piece(rng: Rng, length: number): number {
  const size = rng.pick([0, 0, 1, 3, 17]);
  if (size > 0 && size < 17 && length > 400) return 17;
  return size === 17 && length > 4000 ? 0 : size;
}

async function commandBurst(c: FuzzConnection, rng: Rng, stats: Stats): Promise<'open' | 'closed'> {
  const parts: Buffer[] = [];
  const count = 1 + rng.int(16);
  while (parts.length < count) {
    const input = commandInput(rng);
    if (!changesFraming(Buffer.concat([...parts, input]))) parts.push(input);
  }
  let burst = Buffer.concat(parts);
  if (!burst.toString('latin1').endsWith('\r\n')) burst = Buffer.concat([burst, Buffer.from('\r\n')]);
  stats.inputs += count;
  await c.write(Buffer.concat([burst, HELP]), piece(rng, burst.length));
  return collect(c, countLf(burst) + 1, `burst ${JSON.stringify(burst.toString('latin1').slice(0, 200))}`);
}

/** EHLO or HELO (valid or mutated) alone, waiting for its one reply. */
async function hello(c: FuzzConnection, rng: Rng, stats: Stats): Promise<'open' | 'closed'> {
  const line = Buffer.from(rng.pick(['EHLO client.example', 'HELO client.example', 'EHLO [127.0.0.1]']));
  const input = Buffer.concat([rng.chance(0.5) ? mutate(rng, line) : line, Buffer.from('\r\n')]);
  stats.inputs++;
  // Alone, not pipelined: EHLO/HELO with input behind it ends the session (RFC 2920 group ender).
  await c.write(input, 0);
  for (let i = countLf(input); i > 0; i--) {
    const reply = await c.reply();
    if (!reply) return 'closed';
    if (closing(reply)) {
      assert.equal(await c.reply(), undefined, `reply after a closing ${reply.code}`);
      return 'closed';
    }
  }
  await c.write(HELP, 0);
  return collect(c, 1, `after hello ${JSON.stringify(input.toString('latin1'))}`);
}

const ENVELOPE = Buffer.from('RSET\r\nMAIL FROM:<fuzz@example.net>\r\nRCPT TO:<rcpt@example.org>\r\n');

async function envelope(c: FuzzConnection): Promise<'open' | 'closed'> {
  await c.write(ENVELOPE, 0);
  for (let i = 0; i < 3; i++) if (!(await c.reply())) return 'closed';
  return 'open';
}

async function dataTransaction(c: FuzzConnection, rng: Rng, stats: Stats): Promise<'open' | 'closed'> {
  if ((await envelope(c)) === 'closed') return 'closed';
  await c.write(Buffer.from('DATA\r\n'), 0);
  const go = await c.reply();
  if (!go) return 'closed';
  assert.equal(go.code, 354, go.lines.join(' | '));
  stats.inputs++;
  const body = dataBody(rng);
  await c.write(Buffer.concat([body, HELP]), piece(rng, body.length));
  const done = await c.reply();
  if (!done) return 'closed';
  if (done.lines[0]!.includes('queued as')) stats.queued++;
  if (closing(done)) {
    assert.equal(await c.reply(), undefined, `reply after a closing ${done.code}`);
    return 'closed';
  }
  return collect(c, 1, 'after DATA');
}

async function bdatTransaction(c: FuzzConnection, rng: Rng, stats: Stats): Promise<'open' | 'closed'> {
  if (rng.chance(0.8) && (await envelope(c)) === 'closed') return 'closed';
  const chunks = 1 + rng.int(4);
  const parts: Buffer[] = [];
  for (let i = 0; i < chunks; i++) {
    const size = rng.chance(0.1) ? 0 : rng.int(3000);
    const last = i === chunks - 1 && rng.chance(0.8);
    const body = rng.chance(0.5) ? rng.bytes(size) : rng.bytes(size, `${PRINTABLE}\r\n`);
    parts.push(Buffer.from(`BDAT ${size}${last ? ' LAST' : ''}\r\n`), body);
  }
  stats.inputs += chunks;
  const bytes = Buffer.concat([...parts, HELP]);
  await c.write(bytes, piece(rng, bytes.length));
  for (let i = 0; i < chunks; i++) {
    const reply = await c.reply();
    if (!reply) return 'closed';
    if (reply.lines[0]!.includes('queued as')) stats.queued++;
    if (closing(reply)) {
      assert.equal(await c.reply(), undefined, `reply after a closing ${reply.code}`);
      return 'closed';
    }
  }
  return collect(c, 1, 'after BDAT');
}

async function worker(server: TestServer, id: number, quota: number): Promise<Stats> {
  const rng = new Rng(SEED + id * 7919);
  const stats: Stats = { inputs: 0, connections: 0, bursts: 0, queued: 0 };
  let c: FuzzConnection | undefined;
  while (stats.inputs < quota) {
    if (!c || c.closed) {
      c?.socket.destroy();
      c = await open(server);
      stats.connections++;
    }
    const roll = rng.int(20);
    const state =
      roll === 0
        ? await dataTransaction(c, rng, stats)
        : roll === 1
          ? await bdatTransaction(c, rng, stats)
          : roll === 2
            ? await hello(c, rng, stats)
            : await commandBurst(c, rng, stats);
    stats.bursts++;
    if (state === 'closed') {
      c.socket.destroy();
      c = undefined;
    }
  }
  c?.socket.destroy();
  return stats;
}

let server: TestServer;
before(async () => {
  // More errors per connection than the default 10, so connections live long enough to be reused.
  server = await startTestServer({
    argv: ['--dns-server', '127.0.0.1:9'],
    mutate: (c) => ({ ...c, smtp: { ...c.smtp, limits: { ...c.smtp.limits, maxErrors: 500 } } }),
  });
});
after(async () => {
  await server.stop();
});

it(`survives ${TARGET_INPUTS} fuzzed inputs over parallel connections, every reply well formed`, async (t) => {
  t.diagnostic(`seed ${SEED} (set MXPRESS_FUZZ_SEED to override)`);
  const started = Date.now();
  const quota = Math.ceil(TARGET_INPUTS / WORKERS);
  const all = await Promise.all(Array.from({ length: WORKERS }, (_, id) => worker(server, id, quota)));
  const stats: Stats = { inputs: 0, connections: 0, bursts: 0, queued: 0 };
  for (const one of all) for (const key of Object.keys(stats) as (keyof Stats)[]) stats[key] += one[key];
  t.diagnostic(
    `${stats.inputs} fuzzed inputs in ${stats.bursts} bursts over ${stats.connections} connections, ` +
      `${stats.queued} messages queued, ${Date.now() - started} ms`,
  );
  assert.ok(stats.inputs >= TARGET_INPUTS);

  const s = await rawSession(server.port);
  await s.expect(220);
  await s.command('EHLO clean.example', 250);
  await s.command('MAIL FROM:<clean@example.net>', 250);
  await s.command('RCPT TO:<clean@example.org>', 250);
  await s.command('DATA', 354);
  s.send('Subject: clean\r\n\r\nstill serving\r\n.\r\n');
  const queued = await s.expect(250);
  assert.match(queued[0]!, /queued as/);
  await s.command('QUIT', 221);
  s.close();
});
