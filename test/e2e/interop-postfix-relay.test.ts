/**
 * Postfix and mxpress in both directions, with a private Postfix instance (its own
 * config and queue directories under a temp dir, listening on loopback addresses):
 *  - Postfix relays through mxpress as its relayhost, to the recipient domain's MX;
 *  - mxpress delivers to Postfix as the receiving MX of pfx.test (virtual mailbox,
 *    maildir): what lands in the mailbox is the submitted message byte for byte
 *    after the fields the two servers prepend, and its DKIM signature verifies.
 * Needs root and Debian's postfix package; skips otherwise.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import {
  chmodSync,
  chownSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { dkimVerify } from 'mailauth/lib/dkim/verify.js';
import type { Config } from '../../src/config/types.ts';
import { createResolver } from '../../src/delivery/dns/resolver.ts';
import { freePort } from '../harness/child-mxpress.ts';
import { type DeliveryLab, labZone, startDeliveryLab } from '../harness/delivery-lab.ts';
import { has } from '../harness/interop/peers.ts';
import { rawSession } from '../harness/raw-session.ts';

function postfixUid(): number | undefined {
  const id = spawnSync('id', ['-u', 'postfix'], { encoding: 'utf8' });
  return id.status === 0 ? Number(id.stdout.trim()) : undefined;
}

const NOBODY = {
  uid: Number(spawnSync('id', ['-u', 'nobody'], { encoding: 'utf8' }).stdout.trim() || 65534),
  gid: Number(spawnSync('id', ['-g', 'nobody'], { encoding: 'utf8' }).stdout.trim() || 65534),
};

const skip =
  process.getuid?.() !== 0
    ? 'running a Postfix instance needs root'
    : !has('postfix') || !existsSync('/etc/postfix/master.cf.proto')
      ? 'Postfix is not installed (scripts/install-test-peers.sh installs it)'
      : postfixUid() === undefined
        ? 'no postfix user'
        : false;

describe('Postfix and mxpress, both ways', { skip }, () => {
  let lab: DeliveryLab;
  let dir = '';
  let port = 0;
  let dkimRecord = '';
  const postfix = (...args: string[]): void => {
    execFileSync('postfix', ['-c', join(dir, 'etc'), ...args], { stdio: 'pipe', timeout: 30_000 });
  };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'mxpress-postfix-'));
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    writeFileSync(join(dir, 'dkim.key'), privateKey.export({ type: 'pkcs8', format: 'pem' }), {
      mode: 0o600,
    });
    dkimRecord = `v=DKIM1; k=rsa; p=${publicKey.export({ type: 'spki', format: 'der' }).toString('base64')}`;
    lab = await startDeliveryLab({
      mutate: (c: Config): Config => ({
        ...c,
        delivery: {
          ...c.delivery,
          dkim: [{ domain: 'signed.test', selector: 'mx1', privateKeyFile: join(dir, 'dkim.key') }],
        },
      }),
    });
    lab.dns.setZone({
      ...labZone(),
      'pfx.test': { mx: [{ preference: 10, exchange: 'mx.pfx.test' }] },
      'mx.pfx.test': { a: ['127.0.0.12'] },
      'mx1._domainkey.signed.test': { txt: [dkimRecord.match(/.{1,255}/g)!] },
    });
    port = await freePort();
    chmodSync(dir, 0o755); // Postfix's daemons run as the postfix user
    for (const sub of ['etc', 'spool', 'data', 'mail']) mkdirSync(join(dir, sub));
    chownSync(join(dir, 'data'), postfixUid()!, -1);
    chownSync(join(dir, 'mail'), NOBODY.uid, NOBODY.gid);
    copyFileSync('/etc/postfix/master.cf.proto', join(dir, 'etc', 'master.cf'));
    writeFileSync(
      join(dir, 'etc', 'main.cf'),
      [
        'compatibility_level = 3.6',
        `queue_directory = ${dir}/spool`,
        `data_directory = ${dir}/data`,
        'mail_owner = postfix',
        'setgid_group = postdrop',
        'myhostname = pfx.relay.test',
        'mydestination =',
        'inet_interfaces = all',
        'inet_protocols = ipv4',
        'mynetworks = 127.0.0.0/8',
        `relayhost = [127.0.0.1]:${lab.server.port}`,
        'smtp_tls_security_level = none',
        'smtpd_tls_security_level = none',
        `maillog_file = ${dir}/maillog`,
        `maillog_file_prefixes = ${dir}`,
        'alias_maps =',
        'alias_database =',
        'biff = no',
        'virtual_mailbox_domains = pfx.test',
        `virtual_mailbox_base = ${dir}/mail`,
        'virtual_mailbox_maps = static:box/',
        `virtual_uid_maps = static:${NOBODY.uid}`,
        `virtual_gid_maps = static:${NOBODY.gid}`,
        '',
      ].join('\n'),
    );
    const etc = join(dir, 'etc');
    execFileSync('postconf', [
      '-c',
      etc,
      '-M',
      `127.0.0.1:${port}/inet=127.0.0.1:${port} inet n - n - - smtpd`,
    ]);
    execFileSync('postconf', [
      '-c',
      etc,
      '-M',
      `127.0.0.12:${lab.port}/inet=127.0.0.12:${lab.port} inet n - n - - smtpd`,
    ]);
    execFileSync('postconf', ['-c', etc, '-MX', 'smtp/inet']);
    execFileSync('postconf', ['-c', etc, '-M', 'postlog/unix-dgram=postlog unix-dgram n - n - 1 postlogd']);
    execFileSync('postconf', ['-c', etc, '-F', '*/*/chroot = n']);
    postfix('start');
  });

  after(async () => {
    try {
      if (dir) postfix('stop');
    } catch {
      // Already stopped (or never started): nothing to clean but the files.
    }
    await lab?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('takes a message and relays it through mxpress to the recipient MX', async () => {
    const subject = `through postfix ${Date.now()}`;
    const deadline = Date.now() + 15_000;
    let s: Awaited<ReturnType<typeof rawSession>> | undefined;
    while (!s) {
      try {
        s = await rawSession(port);
      } catch (error) {
        if (Date.now() > deadline) throw error;
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    }
    try {
      await s.expect(220);
      await s.command('EHLO app.example', 250);
      await s.command('MAIL FROM:<sender@dump.test>', 250);
      await s.command('RCPT TO:<via-postfix@d1.test>', 250);
      await s.command('DATA', 354);
      s.send(
        `From: sender@dump.test\r\nTo: via-postfix@d1.test\r\nSubject: ${subject}\r\n\r\nrelayed by Postfix\r\n`,
      );
      await s.command('.', 250);
    } finally {
      s.close();
    }
    const received = await lab.waitForEvent(
      (e) => e.type === 'received' && 'recipients' in e && e.recipients.includes('via-postfix@d1.test'),
      20_000,
    );
    await lab.waitForEvent((e) => e.type === 'delivered' && e.messageId === received.messageId, 20_000);
    const arrived = lab.sinks.ok.messages.find((m) => m.body.includes(subject));
    assert.ok(arrived, 'the message did not reach the recipient MX');
    const text = arrived.body.toString('latin1');
    assert.match(text, /by mx\.mxpress\.test \(mxpress\) with ESMTP id [0-9A-Z]{26}/);
    assert.match(text, /by pfx\.relay\.test \(Postfix\)/);
    assert.equal(arrived.mailFrom, 'sender@dump.test');
    assert.deepEqual(arrived.rcptTo, ['via-postfix@d1.test']);
  });

  it('receives mail from mxpress as the MX of pfx.test, byte for byte, with a DKIM signature that verifies', async () => {
    const submitted =
      'From: Sender <sender@signed.test>\r\nTo: box@pfx.test\r\nSubject: to postfix byte check\r\nDate: Sun, 22 Nov 2026 10:00:00 +0000\r\nMessage-ID: <pfx-1@signed.test>\r\n\r\n.leading dot\r\nplain line\r\nlast line\r\n';
    const s = await rawSession(lab.server.port);
    let id = '';
    try {
      await s.expect(220);
      await s.command('EHLO app.example', 250);
      await s.command('MAIL FROM:<sender@signed.test>', 250);
      await s.command('RCPT TO:<box@pfx.test>', 250);
      await s.command('DATA', 354);
      s.send(`${submitted.replace(/^\./gm, '..')}.\r\n`);
      const lines = await s.expect(250);
      id = /queued as ([0-9A-Z]{26})/.exec(lines[0]!)![1]!;
    } finally {
      s.close();
    }
    await lab.waitForEvent((e) => e.type === 'delivered' && e.messageId === id, 20_000);
    const box = join(dir, 'mail', 'box', 'new');
    const deadline = Date.now() + 10_000;
    let files: string[] = [];
    while (files.length === 0) {
      files = existsSync(box) ? readdirSync(box) : [];
      if (files.length === 0) {
        if (Date.now() > deadline) throw new Error('nothing in the Postfix mailbox');
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
    // Maildir files have LF line endings; Postfix prepends Return-Path, Delivered-To and its Received.
    const stored = readFileSync(join(box, files[0]!), 'latin1');
    const start = stored.indexOf('DKIM-Signature: ');
    assert.ok(start > 0, 'no DKIM-Signature in the delivered message');
    assert.match(stored.slice(0, start), /^Return-Path: <sender@signed\.test>\n/);
    assert.match(stored.slice(0, start), /by pfx\.relay\.test \(Postfix\) with ESMTP/);
    const received = Buffer.from(stored.slice(start).replace(/\n/g, '\r\n'), 'latin1');
    const want = Buffer.from(submitted, 'latin1');
    assert.ok(
      received.subarray(received.length - want.length).equals(want),
      'the submitted bytes did not arrive unchanged',
    );
    const resolver = createResolver({ servers: [lab.dns.address], timeoutMs: 2000 });
    const result = await dkimVerify(received, {
      resolver: async (name: string, type: string) => {
        const txt = type === 'TXT' ? await resolver.resolveTxt(name) : undefined;
        if (txt?.kind === 'ok') return txt.records.map((r) => [r]);
        throw Object.assign(new Error('not found'), { code: 'ENOTFOUND' });
      },
    });
    assert.equal(result.results[0]?.status?.result, 'pass');
  });
});
