/**
 * Interoperability with swaks (the Swiss Army Knife for SMTP): plain ESMTP, STARTTLS,
 * AUTH PLAIN and LOGIN (and a wrong password), PIPELINING, an 8-bit body, and TLS on
 * connect against an implicit-TLS listener, each checked against what mxpress stored.
 *
 * swaks 20201014 (Debian 12) has no option for BODY=8BITMIME or the DSN parameters,
 * so those are exercised with smtplib, nodemailer and msmtp instead. Every test skips
 * with a reason when swaks is not installed.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { has, type RunResult, run } from '../harness/interop/peers.ts';
import {
  assertSameBytes,
  type InteropServer,
  PASSWORD,
  queueId,
  startInteropServer,
  storedMessage,
  UNTRUSTED_SOURCE,
  USER,
} from '../harness/interop/server.ts';

const skip = !has('swaks') && 'swaks not installed';

/** A fixed DATA section (Date and Message-ID given, so mxpress adds nothing to it). */
const DATA_LINES = [
  'Date: Mon, 1 Jan 2024 00:00:00 +0000',
  'Message-ID: <swaks-fixed@client.example>',
  'From: a@example.net',
  'To: b@example.org',
  'Subject: interop',
  '',
  '.a line that starts with a dot',
  'second line',
];
const EXPECTED = `${DATA_LINES.join('\r\n')}\r\n`;

describe('swaks', { skip }, () => {
  let mx: InteropServer;
  before(async () => {
    mx = await startInteropServer({ implicitTls: true });
  });
  after(async () => {
    await mx.stop();
  });

  function swaks(args: readonly string[], port = mx.port): Promise<RunResult> {
    return run('swaks', [
      '--server',
      '127.0.0.1',
      '--port',
      String(port),
      '--ehlo',
      'client.example',
      '--from',
      'a@example.net',
      '--timeout',
      '10',
      ...args,
    ]);
  }

  it('sends a plain ESMTP message that is stored byte for byte, dot-unstuffed', async () => {
    const r = await swaks(['--to', 'b@example.org', '--data', DATA_LINES.join('\n')]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, / -> \.\.a line that starts with a dot\r?\n/, 'swaks did not dot-stuff');
    const copy = await storedMessage(mx, queueId(r.stdout));
    assertSameBytes(copy.rest, EXPECTED, 'stored body after Received');
    const { envelope, origin } = copy.message;
    assert.equal(envelope.mailFrom, 'a@example.net');
    assert.deepEqual(
      envelope.recipients.map((x) => x.address),
      ['b@example.org'],
    );
    assert.equal(envelope.bodyType, '7BIT');
    assert.equal(envelope.smtputf8, false);
    assert.equal(origin.protocol, 'ESMTP');
    assert.equal(origin.tls, undefined);
    assert.equal(origin.helo, 'client.example');
    assert.match(
      copy.trace,
      /^Received: from client\.example \(unknown \[127\.0\.0\.1\]\)\r\n\tby mx\.mxpress\.test \(mxpress\) with ESMTP id /,
    );
  });

  it('negotiates STARTTLS (-tls) and the message records the TLS session', async () => {
    const r = await swaks(['-tls', '--to', 'b@example.org', '--data', DATA_LINES.join('\n')]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /<- {2}220 2\.0\.0 Ready to start TLS/);
    assert.match(r.stdout, /=== TLS started with cipher TLSv1\.[23]/);
    const copy = await storedMessage(mx, queueId(r.stdout));
    assertSameBytes(copy.rest, EXPECTED, 'stored body after Received');
    assert.equal(copy.message.origin.protocol, 'ESMTPS');
    assert.match(copy.message.origin.tls?.protocol ?? '', /^TLSv1\.[23]$/);
    assert.match(copy.trace, / with ESMTPS id /);
  });

  it('is refused relay from an untrusted address without AUTH (the control for the AUTH tests)', async () => {
    const before = mx.received.count;
    const r = await swaks(['-li', UNTRUSTED_SOURCE, '--to', 'b@example.org']);
    assert.equal(r.code, 24, `swaks should exit 24 (no RCPTs accepted)\n${r.stdout}${r.stderr}`);
    assert.match(r.stdout + r.stderr, /554 5\.7\.1 /);
    assert.equal(mx.received.count, before);
  });

  it('authenticates with AUTH PLAIN and may then relay', async () => {
    const r = await swaks([
      '-li',
      UNTRUSTED_SOURCE,
      '--auth',
      'PLAIN',
      '--auth-user',
      USER,
      '--auth-password',
      PASSWORD,
      '--to',
      'b@example.org',
      '--data',
      DATA_LINES.join('\n'),
    ]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, / -> AUTH PLAIN /);
    assert.match(r.stdout, /<- {2}235 2\.7\.0 /);
    const copy = await storedMessage(mx, queueId(r.stdout));
    assertSameBytes(copy.rest, EXPECTED, 'stored body after Received');
    assert.equal(copy.message.origin.authUser, USER);
    assert.equal(copy.message.origin.clientIp, UNTRUSTED_SOURCE);
    assert.equal(copy.message.origin.protocol, 'ESMTPA');
  });

  it('authenticates with AUTH LOGIN inside STARTTLS', async () => {
    const r = await swaks([
      '-tls',
      '-li',
      UNTRUSTED_SOURCE,
      '--auth',
      'LOGIN',
      '--auth-user',
      USER,
      '--auth-password',
      PASSWORD,
      '--to',
      'b@example.org',
    ]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, / ~> AUTH LOGIN\r?\n<~ {2}334 VXNlcm5hbWU6\r?\n/);
    assert.match(r.stdout, /<~ {2}334 UGFzc3dvcmQ6\r?\n/);
    const copy = await storedMessage(mx, queueId(r.stdout));
    assert.equal(copy.message.origin.authUser, USER);
    assert.equal(copy.message.origin.protocol, 'ESMTPSA');
    assert.match(copy.trace, / with ESMTPSA id /);
  });

  for (const mechanism of ['PLAIN', 'LOGIN']) {
    it(`exits non-zero on a wrong password with AUTH ${mechanism} (535) and nothing is stored`, async () => {
      const before = mx.received.count;
      const r = await swaks([
        '-li',
        UNTRUSTED_SOURCE,
        '--auth',
        mechanism,
        '--auth-user',
        USER,
        '--auth-password',
        'not the password',
        '--to',
        'b@example.org',
      ]);
      assert.equal(r.code, 28, `swaks should exit 28 (AUTH error)\n${r.stdout}${r.stderr}`);
      assert.match(r.stdout + r.stderr, /535 5\.7\.8 /);
      assert.equal(mx.received.count, before);
    });
  }

  it('pipelines MAIL, RCPT x3 and DATA in one group (--pipeline)', async () => {
    const r = await swaks([
      '--pipeline',
      '--to',
      'b@example.org,c@example.org,d@example.org',
      '--data',
      DATA_LINES.join('\n'),
    ]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(
      r.stdout,
      / -> MAIL FROM:<a@example\.net>\n -> RCPT TO:<b@example\.org>\n -> RCPT TO:<c@example\.org>\n -> RCPT TO:<d@example\.org>\n -> DATA\n<- {2}250 2\.1\.0 Ok\n<- {2}250 2\.1\.5 Ok\n<- {2}250 2\.1\.5 Ok\n<- {2}250 2\.1\.5 Ok\n<- {2}354 /,
    );
    const copy = await storedMessage(mx, queueId(r.stdout));
    assertSameBytes(copy.rest, EXPECTED, 'stored body after Received');
    assert.deepEqual(
      copy.message.recipients.map((x) => x.address),
      ['b@example.org', 'c@example.org', 'd@example.org'],
    );
  });

  it('sends an 8-bit UTF-8 body and header unchanged (swaks declares no BODY=, so 7BIT is recorded)', async () => {
    const lines = [
      'Date: Mon, 1 Jan 2024 00:00:00 +0000',
      'Message-ID: <swaks-8bit@client.example>',
      'Subject: Grüße aus Köln ✓',
      'Content-Type: text/plain; charset=utf-8',
      'Content-Transfer-Encoding: 8bit',
      '',
      'héllo wörld — ✓ 日本語',
    ];
    const r = await swaks(['--to', 'b@example.org', '--data', lines.join('\n')]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const copy = await storedMessage(mx, queueId(r.stdout));
    assertSameBytes(copy.rest, `${lines.join('\r\n')}\r\n`, 'stored 8-bit body');
    assert.equal(copy.message.envelope.bodyType, '7BIT');
    assert.equal(copy.message.headers.subject, 'Grüße aus Köln ✓');
  });
  it('speaks TLS from the first byte to the implicit-TLS listener (--tls-on-connect)', async () => {
    assert.ok(mx.implicitPort, 'no implicit-TLS listener');
    const r = await swaks(
      ['--tls-on-connect', '--to', 'b@example.org', '--data', DATA_LINES.join('\n')],
      mx.implicitPort,
    );
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /=== TLS started with cipher TLSv1\.[23]/);
    assert.doesNotMatch(r.stdout, /STARTTLS/, 'STARTTLS offered on an implicit-TLS listener');
    const copy = await storedMessage(mx, queueId(r.stdout));
    assertSameBytes(copy.rest, EXPECTED, 'stored body after Received');
    assert.equal(copy.message.origin.protocol, 'ESMTPS');
    assert.match(copy.message.origin.listener, /implicit/);
  });
});
