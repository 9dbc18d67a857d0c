/**
 * Postfix relaying through mxpress as its relayhost: a private Postfix instance (its
 * own config and queue directories under a temp dir, listening on a loopback port)
 * takes a message over SMTP and hands it to mxpress, which delivers it to the MX of
 * the recipient domain. Needs root and Debian's postfix package; skips otherwise.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { freePort } from '../harness/child-mxpress.ts';
import { type DeliveryLab, startDeliveryLab } from '../harness/delivery-lab.ts';
import { has } from '../harness/interop/peers.ts';
import { rawSession } from '../harness/raw-session.ts';

function postfixUid(): number | undefined {
  const id = spawnSync('id', ['-u', 'postfix'], { encoding: 'utf8' });
  return id.status === 0 ? Number(id.stdout.trim()) : undefined;
}

const skip =
  process.getuid?.() !== 0
    ? 'running a Postfix instance needs root'
    : !has('postfix') || !existsSync('/etc/postfix/master.cf.proto')
      ? 'Postfix is not installed (scripts/install-test-peers.sh installs it)'
      : postfixUid() === undefined
        ? 'no postfix user'
        : false;

describe('Postfix with mxpress as its relayhost', { skip }, () => {
  let lab: DeliveryLab;
  let dir = '';
  let port = 0;
  const postfix = (...args: string[]): void => {
    execFileSync('postfix', ['-c', join(dir, 'etc'), ...args], { stdio: 'pipe', timeout: 30_000 });
  };

  before(async () => {
    lab = await startDeliveryLab();
    dir = mkdtempSync(join(tmpdir(), 'mxpress-postfix-'));
    port = await freePort();
    chmodSync(dir, 0o755); // Postfix's daemons run as the postfix user
    for (const sub of ['etc', 'spool', 'data']) mkdirSync(join(dir, sub));
    chownSync(join(dir, 'data'), postfixUid()!, -1);
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
        'inet_interfaces = 127.0.0.1',
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
});
