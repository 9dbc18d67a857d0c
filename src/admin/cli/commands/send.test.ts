/**
 * Tests for `mxpress send`: CSV parsing and template filling (pure), then runs
 * through main() against a real mxpress and delivery lab on loopback: a message
 * from flags with an attachment waits for "delivered" and reports the remote
 * reply; an .eml file goes out raw with Bcc removed; a CSV mailing to a good and
 * a hard-bouncing domain reports both and exits 1; --no-wait prints the id; the
 * progress bar is drawn on a TTY only; usage and input errors exit 64/65.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type DeliveryLab, startDeliveryLab } from '../../../../test/harness/delivery-lab.ts';
import { main } from '../main.ts';
import { fakeIo } from '../test-helpers.ts';
import { ComposeProblem, fillTemplate, parseCsv } from './send/compose.ts';
import { progressLine, Verdicts } from './send/watch.ts';

describe('send CSV and templates', () => {
  it('parses quoted fields, escaped quotes, CRLF and blank lines', () => {
    assert.deepEqual(parseCsv('email,name\r\na@x.test,"Doe, ""J"""\n\nb@x.test,B\n'), [
      { email: 'a@x.test', name: 'Doe, "J"' },
      { email: 'b@x.test', name: 'B' },
    ]);
    assert.throws(() => parseCsv('email\n"a@x.test\n'), /not closed/);
  });

  it('fills {{column}}, refuses unknown columns and strips line breaks from values', () => {
    assert.equal(
      fillTemplate('Hi {{ name }} <{{email}}>', { name: 'Ann', email: 'a@x' }, 'r'),
      'Hi Ann <a@x>',
    );
    assert.equal(fillTemplate('Subject: {{s}}', { s: 'x\r\nBcc: evil@x' }, 'r'), 'Subject: x Bcc: evil@x');
    assert.throws(
      () => fillTemplate('{{nope}}', {}, 'row 2'),
      (e: unknown) => e instanceof ComposeProblem && /row 2.*nope/.test(e.message),
    );
  });
});

describe('send verdict tracking', () => {
  it('keeps final statuses, fills a missing reply, ignores unknown recipients and junk', () => {
    const v = new Verdicts();
    v.add('m1', 'a@x.test');
    v.add('m1', 'b@x.test');
    const attempt = { reply: { code: 250, enhanced: '2.0.0', text: 'Ok' } };
    assert.equal(
      v.applyMessage('m1', {
        recipients: [{ address: 'a@x.test', status: 'delivered', attempts: [attempt] }],
      }),
      true,
    );
    assert.equal(
      v.applyEvent(JSON.stringify({ type: 'deferred', messageId: 'm1', recipient: 'a@x.test' })),
      false,
    );
    assert.equal(
      v.applyEvent(JSON.stringify({ type: 'delivered', messageId: 'm9', recipient: 'a@x.test' })),
      false,
    );
    assert.equal(v.applyEvent('not json'), false);
    assert.equal(
      v.applyEvent(JSON.stringify({ type: 'bounced', messageId: 'm1', recipient: 'b@x.test' })),
      true,
    );
    assert.equal(
      v.applyEvent(
        JSON.stringify({
          type: 'bounced',
          messageId: 'm1',
          recipient: 'b@x.test',
          reply: { code: 550, text: 'gone\x1b[2J' },
        }),
      ),
      true,
    );
    assert.deepEqual(
      v.all().map((s) => [s.address, s.status, s.reply]),
      [
        ['a@x.test', 'delivered', '250 2.0.0 Ok'],
        ['b@x.test', 'bounced', '550 gone [2J'],
      ],
    );
    assert.equal(v.done(), true);
    assert.match(progressLine(v, 10), /^\[#{10}\] 2\/2 {2}delivered 1 {2}deferred 0 {2}bounced 1$/);
  });
});

describe('send against a running mxpress', () => {
  let lab: DeliveryLab;
  let dir: string;
  let env: Record<string, string>;

  before(async () => {
    lab = await startDeliveryLab();
    dir = mkdtempSync(join(tmpdir(), 'mxpress-send-'));
    env = { MXPRESS_API: `http://127.0.0.1:${lab.server.running.http!.port}` };
  });
  after(async () => {
    await lab.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('sends from flags with an attachment and reports the delivery with the remote reply', async () => {
    const file = join(dir, 'note.txt');
    writeFileSync(file, 'attached words');
    const io = fakeIo({ cwd: dir, env });
    const code = await main(
      [
        'send',
        '--from',
        'app@sender.test',
        '--to',
        'flags1@d1.test',
        '--subject',
        'Hello',
        '--text',
        'body',
        '--attach',
        file,
        '--timeout',
        '30',
      ],
      io,
    );
    assert.equal(code, 0, io.err());
    assert.match(io.out(), /flags1@d1\.test\s+delivered\s+\S+\s+250/);
    const copy = lab.sinks.ok.messages.find((m) => m.rcptTo.includes('flags1@d1.test'));
    assert.match(copy?.body.toString() ?? '', /filename="?note\.txt/);
    assert.doesNotMatch(io.err(), /\r\[/, 'no progress bar without a terminal');
  });

  it('sends an .eml file raw, takes To/Bcc, removes Bcc, and draws progress on a TTY', async () => {
    const eml = join(dir, 'm.eml');
    writeFileSync(
      eml,
      'From: Me <me@sender.test>\nTo: eml1@d2.test\nBcc: eml2@d3.test\nSubject: raw\n\nraw body\n',
    );
    const base = fakeIo({ cwd: dir, env });
    let progress = '';
    const io = { ...base, stderr: { isTTY: true, write: (t: string) => (progress += t) } };
    assert.equal(await main(['send', '--eml', eml, '--timeout', '30'], io), 0, progress);
    assert.match(base.out(), /eml1@d2\.test\s+delivered/);
    assert.match(base.out(), /eml2@d3\.test\s+delivered/);
    assert.match(progress, /\r\[#+\] 2\/2 {2}delivered 2/);
    const copy = lab.sinks.ok.messages.find((m) => m.rcptTo.includes('eml1@d2.test'));
    assert.equal(copy?.mailFrom, 'me@sender.test');
    assert.doesNotMatch(copy?.body.toString() ?? 'Bcc', /Bcc/);
  });

  it('mails a CSV through a template, reporting the delivered and the bounced row (exit 1, --json)', async () => {
    const csv = join(dir, 'list.csv');
    const template = join(dir, 't.eml');
    writeFileSync(csv, 'email,name\ncsv1@d4.test,Ann\ncsv2@hard.test,"Bob, Jr"\n');
    writeFileSync(template, 'From: news@sender.test\nTo: {{email}}\nSubject: Hi {{name}}\n\nDear {{name}}\n');
    const io = fakeIo({ cwd: dir, env });
    assert.equal(
      await main(['send', '--csv', csv, '--template', template, '--json', '--timeout', '30'], io),
      1,
      io.err(),
    );
    const result = JSON.parse(io.out()) as {
      end: string;
      recipients: { address: string; status: string; reply: string }[];
    };
    assert.equal(result.end, 'done');
    const by = new Map(result.recipients.map((r) => [r.address, r]));
    assert.equal(by.get('csv1@d4.test')?.status, 'delivered');
    assert.equal(by.get('csv2@hard.test')?.status, 'bounced');
    assert.match(by.get('csv2@hard.test')?.reply ?? '', /550 5\.1\.1/);
    const copy = lab.sinks.ok.messages.find((m) => m.rcptTo.includes('csv1@d4.test'));
    assert.match(copy?.body.toString() ?? '', /Subject: Hi Ann\r\n[\s\S]*Dear Ann/);
  });

  it('--no-wait prints the id; usage and input problems exit 64 and 65', async () => {
    const io = fakeIo({ cwd: dir, env });
    const code = await main(
      [
        'send',
        '--from',
        'a@sender.test',
        '--to',
        'nowait@d1.test',
        '--subject',
        's',
        '--text',
        't',
        '--no-wait',
      ],
      io,
    );
    assert.equal(code, 0, io.err());
    assert.match(io.out(), /^\S+ {2}nowait@d1\.test\n$/);
    const usage = fakeIo({ cwd: dir, env });
    assert.equal(await main(['send', '--to', 'x@d1.test', '--text', 't'], usage), 64);
    assert.match(usage.err(), /--from is required/);
    const missing = fakeIo({ cwd: dir, env });
    assert.equal(await main(['send', '--eml', join(dir, 'absent.eml')], missing), 65);
    assert.match(missing.err(), /cannot read .*absent\.eml \(ENOENT\)/);
  });
});
