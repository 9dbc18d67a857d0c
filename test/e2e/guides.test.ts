/**
 * Runs the guides' runnable snippets against a running mxpress, so the docs cannot
 * drift: every fenced block whose info string carries `test=NAME` in docs/*.md is
 * extracted and executed (js with Node, python with python3, sh with sh), with the
 * listener port 2525 replaced by the lab's port and the recipient domain
 * example.com by d1.test (a lab domain that accepts mail). Each must exit 0 and
 * its message must be delivered (a new `delivered` event). A snippet whose program
 * is not installed skips and says so; the set of snippet names is checked so a
 * renamed or deleted snippet fails here rather than silently running less.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readdirSync, readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { type DeliveryLab, startDeliveryLab } from '../harness/delivery-lab.ts';
import { has } from '../harness/interop/peers.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const DOCS = `${ROOT}docs/`;

interface Snippet {
  readonly name: string;
  readonly lang: string;
  readonly code: string;
  readonly file: string;
}

function snippets(): Snippet[] {
  const out: Snippet[] = [];
  for (const file of readdirSync(DOCS).filter((f) => f.endsWith('.md'))) {
    const text = readFileSync(`${DOCS}${file}`, 'utf8');
    for (const m of text.matchAll(/^```(\w+)[^\n]*\btest=([\w-]+)[^\n]*\n([\s\S]*?)^```$/gm)) {
      out.push({ lang: m[1]!, name: m[2]!, code: m[3]!, file });
    }
  }
  return out;
}

const RUNNERS: Record<string, { program: string; args: (code: string) => string[] }> = {
  js: { program: process.execPath, args: (code) => ['--input-type=module', '-e', code] },
  python: { program: 'python3', args: (code) => ['-c', code] },
  sh: { program: 'sh', args: (code) => ['-c', code] },
};

async function execute(
  program: string,
  args: string[],
  env: Record<string, string>,
): Promise<{ code: number | null; output: string }> {
  const child = spawn(program, args, {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => {
    output += d;
  });
  child.stderr.setEncoding('utf8').on('data', (d: string) => {
    output += d;
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  try {
    const [code] = (await once(child, 'close')) as [number | null];
    return { code, output };
  } finally {
    clearTimeout(timer);
  }
}

const found = snippets();

describe('guide snippets run against mxpress', () => {
  let lab: DeliveryLab;
  const seen = new Set<string>();

  before(async () => {
    lab = await startDeliveryLab();
  });
  after(async () => {
    await lab.close();
  });

  it('finds every runnable snippet the guides promise', () => {
    assert.deepEqual(found.map((s) => s.name).sort(), ['curl', 'nodemailer', 'sendmail', 'smtplib', 'swaks']);
  });

  for (const snippet of found) {
    const runner = RUNNERS[snippet.lang];
    const tool =
      snippet.name === 'smtplib' ? 'python3' : snippet.name === 'nodemailer' ? 'node' : snippet.name;
    const missing =
      runner === undefined
        ? `no runner for ${snippet.lang}`
        : tool !== 'node' && tool !== 'sendmail' && !has(tool) && `${tool} not installed`;
    it(`${snippet.file}: ${snippet.name}`, { skip: missing || false }, async () => {
      const code = snippet.code
        .replaceAll('2525', String(lab.server.port))
        .replaceAll('example.com', 'd1.test');
      const result = await execute(runner!.program, runner!.args(code), {
        MXPRESS_SMTP: `127.0.0.1:${lab.server.port}`,
      });
      assert.equal(result.code, 0, result.output);
      const delivered = await lab.waitForEvent(
        (e) => e.type === 'delivered' && e.recipient === 'someone@d1.test' && !seen.has(e.messageId),
        20_000,
      );
      seen.add(delivered.messageId);
    });
  }
});
