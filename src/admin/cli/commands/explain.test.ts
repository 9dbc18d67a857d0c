/**
 * Tests for `mxpress explain`: the acceptance runs through bin/mxpress.js as a real
 * child process; the rest run the command in-process with a recording io (text and
 * JSON output, stdin with `-`, exit codes 0/64/65, help through main()).
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { main } from '../main.ts';
import { fakeIo, runCli } from '../test-helpers.ts';
import { explainCommand } from './explain.ts';

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mxpress-explain-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function explain(args: readonly string[], stdin?: string) {
  const io = fakeIo({ cwd: dir, ...(stdin === undefined ? {} : { stdin }) });
  const code = await explainCommand.run(args, io);
  return { code, stdout: io.out(), stderr: io.err() };
}

describe('mxpress explain (spawned)', () => {
  it('explains "550 5.1.1 User unknown" as a hard bounce: the mailbox does not exist', async () => {
    const r = await runCli(['explain', '550 5.1.1 User unknown'], { cwd: dir });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, '');
    assert.match(r.stdout, /^Hard bounce: The mailbox does not exist \[bad-mailbox\]$/m);
    assert.match(r.stdout, /typos/);
  });

  it('explains ECONNREFUSED, with the port 25 and relay advice', async () => {
    const r = await runCli(['explain', 'ECONNREFUSED'], { cwd: dir });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^Soft failure: Connection refused \[connection-refused\]$/m);
    assert.match(r.stdout, /port 25/);
    assert.match(r.stdout, /delivery\.routes/);
  });
});

describe('mxpress explain (in-process)', () => {
  it('prints the reply it understood, the cause and what to do, wrapped for a terminal', async () => {
    const r = await explain(['452-4.2.2 The email account that you tried to reach is over quota.']);
    assert.equal(r.code, 0);
    assert.match(
      r.stdout,
      /^Reply: +452 4\.2\.2 The email account that you tried to reach is over\n {13}quota\.$/m,
    );
    assert.match(r.stdout, /^Soft failure: The mailbox is full \[mailbox-full\]$/m);
    assert.match(r.stdout, /^Cause: +\S/m);
    assert.match(r.stdout, /^What to do: +\S/m);
    assert.match(r.stdout, /\(rule text:mailbox-full\)/);
    for (const line of r.stdout.split('\n')) assert.ok(line.length <= 78, line);
  });

  it('calls a soft 5xx refusal a soft bounce', async () => {
    const r = await explain(['554 5.7.1 Client host [192.0.2.10] blocked using zen.spamhaus.org']);
    assert.equal(r.code, 0);
    assert.match(r.stdout, /^Soft bounce: .* \[reputation-or-blocklist\]$/m);
    assert.match(r.stdout, /address is not at fault/);
  });

  it('joins several words into one text', async () => {
    const r = await explain(['550', '5.1.1', 'User', 'unknown']);
    assert.equal(r.code, 0);
    assert.match(r.stdout, /^Reply: +550 5\.1\.1 User unknown$/m);
    assert.match(r.stdout, /^Hard bounce: /m);
  });

  it('--json prints one object with the verdict and the parsed input', async () => {
    const r = await explain(['--json', 'connect ETIMEDOUT 192.0.2.1:25']);
    assert.equal(r.code, 0);
    const out = JSON.parse(r.stdout) as Record<string, unknown>;
    assert.equal(out.severity, 'soft');
    assert.equal(out.category, 'connection-timeout');
    assert.equal(out.rule, 'local:timeout');
    assert.deepEqual(out.input, { errorCode: 'ETIMEDOUT' });
    assert.match((out.explanation as { action: string }).action, /port 25/);
    assert.equal(r.stdout.trim().split('\n').length, 1);
  });

  it('reads a pasted multi-line reply from stdin with "-"', async () => {
    const paste =
      '550-5.1.1 The email account that you tried to reach does not exist. Please try\r\n' +
      "550-5.1.1 double-checking the recipient's email address for typos or\r\n" +
      '550 5.1.1 unnecessary spaces.\r\n';
    const r = await explain(['-', '--json'], paste);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as {
      category: string;
      severity: string;
      input: { reply: { text: string } };
    };
    assert.equal(out.category, 'bad-mailbox');
    assert.equal(out.severity, 'hard');
    assert.equal(out.input.reply.text.split('\n').length, 3);
  });

  it('exits 65 naming what it expected when the text has no reply or error code', async () => {
    for (const args of [['hello there'], ['-']]) {
      const r = await explain(args, '');
      assert.equal(r.code, 65, args.join(' '));
      assert.equal(r.stdout, '');
      assert.match(r.stderr, /found no SMTP reply or error code/);
      assert.match(r.stderr, /550 5\.1\.1 User unknown/);
      assert.match(r.stderr, /ECONNREFUSED/);
    }
  });

  it('exits 64 without text or with an unknown flag', async () => {
    const none = await explain([]);
    assert.equal(none.code, 64);
    assert.match(none.stderr, /what should I explain/);
    const flag = await explain(['--verbose', '550 x']);
    assert.equal(flag.code, 64);
    assert.match(flag.stderr, /--verbose/);
  });

  it('is registered: listed by --help, with its own help', async () => {
    const io = fakeIo({ cwd: dir });
    assert.equal(await main(['--help'], io), 0);
    assert.match(io.out(), /^ {2}explain +explain an SMTP reply/m);
    const help = fakeIo({ cwd: dir });
    assert.equal(await main(['explain', '--help'], help), 0);
    assert.match(help.out(), /^Usage: mxpress explain/);
  });
});
