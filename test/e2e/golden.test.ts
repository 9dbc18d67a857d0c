/**
 * Golden SMTP transcripts: every `test/golden/*.smtp` file is replayed against a
 * real mxpress on loopback and the replies must match line for line.
 *
 * Format: `C: text` is sent followed by CRLF (consecutive C lines go out in one
 * write, which is how pipelining clients behave); `C~ text` is sent without the
 * CRLF; escapes \r \n \0 \t \\ and \xHH are decoded in C lines. `S: text` is one
 * expected reply line; `{ID}` stands for a queue id and `{*}` for any text. `CLOSED`
 * expects the server to close the connection. `#` lines are comments.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { LineReader } from '../harness/line-reader.ts';
import { startTestServer, type TestServer } from '../harness/mxpress.ts';

const dir = join(import.meta.dirname, '..', 'golden');
const files = readdirSync(dir)
  .filter((f) => f.endsWith('.smtp'))
  .sort();

type Step =
  | { kind: 'send'; bytes: Buffer }
  | { kind: 'expect'; pattern: RegExp; text: string }
  | { kind: 'closed' };

function decode(text: string): Buffer {
  const out: number[] = [];
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (ch !== '\\') {
      for (const b of Buffer.from(ch, 'utf8')) out.push(b);
      continue;
    }
    const next = text[++i];
    if (next === 'r') out.push(13);
    else if (next === 'n') out.push(10);
    else if (next === '0') out.push(0);
    else if (next === 't') out.push(9);
    else if (next === '\\') out.push(92);
    else if (next === 'x') {
      out.push(Number.parseInt(text.slice(i + 1, i + 3), 16));
      i += 2;
    } else throw new Error(`bad escape \\${next}`);
  }
  return Buffer.from(out);
}

function parse(source: string): Step[] {
  const steps: Step[] = [];
  let pending: Buffer[] = [];
  const flush = (): void => {
    if (pending.length > 0) steps.push({ kind: 'send', bytes: Buffer.concat(pending) });
    pending = [];
  };
  for (const line of source.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    if (line.startsWith('C: ') || line === 'C:') pending.push(decode(line.slice(3)), Buffer.from('\r\n'));
    else if (line.startsWith('C~ ')) pending.push(decode(line.slice(3)));
    else if (line.startsWith('S: ')) {
      flush();
      const text = line.slice(3);
      const escaped = text
        .replace(/[.*+?^$()|[\]\\]/g, '\\$&')
        .replace(/\{ID\}/g, '[0-9A-Z]{26}')
        .replace(/\\\{\\\*\\\}|\{\\\*\}|\{\*\}/g, '.*');
      steps.push({ kind: 'expect', pattern: new RegExp(`^${escaped}$`), text });
    } else if (line === 'CLOSED') {
      flush();
      steps.push({ kind: 'closed' });
    } else throw new Error(`unrecognized transcript line: ${line}`);
  }
  flush();
  return steps;
}

describe('golden SMTP transcripts', () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer({ argv: ['--dns-server', '127.0.0.1:9'] });
  });
  after(async () => {
    await server.stop();
  });

  for (const file of files) {
    it(file.replace(/\.smtp$/, ''), async () => {
      const steps = parse(readFileSync(join(dir, file), 'utf8'));
      const socket = connect(server.port, server.host);
      const reader = new LineReader(socket);
      try {
        for (const step of steps) {
          if (step.kind === 'send') socket.write(step.bytes);
          else if (step.kind === 'expect') {
            const got = await reader.line();
            assert.ok(got !== undefined, `connection closed; expected ${step.text}`);
            assert.match(got, step.pattern, `expected ${step.text}`);
          } else {
            const got = await reader.line();
            assert.equal(got, undefined, 'expected the server to close the connection');
          }
        }
      } finally {
        socket.destroy();
      }
    });
  }
});
