/**
 * Log injection: a real `mxpress start` child process (log level debug, its stdout
 * and stderr captured) gets NUL, CR and LF, raw and xtext-encoded, in SMTP commands
 * and HTTP requests (JSON fields, URL paths, request headers). The log must stay one
 * JSON object per line: no raw CR or NUL anywhere, no line forged by a client, and
 * the marker, wherever it is logged at all, only inside a JSON string.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, it } from 'node:test';
import { rawSession } from '../harness/raw-session.ts';

const MARK = 'Injected-Zq7';
const RAW = ['\r', '\n', '\0'];
const XTEXT = ['+0D+0A', '+00'];

const dataDir = mkdtempSync(join(tmpdir(), 'mxpress-log-'));
let child: ReturnType<typeof spawn>;
let stdout = '';
let stderr = '';
let smtpPort = 0;
let httpBase = '';

before(async () => {
  child = spawn(
    process.execPath,
    [
      'bin/mxpress.js',
      'start',
      '--data-dir',
      dataDir,
      '--hostname',
      'mx.mxpress.test',
      '--smtp',
      '127.0.0.1:0',
      '--http',
      '127.0.0.1:0',
      '--dns-server',
      '127.0.0.1:9',
      '--log-level',
      'debug',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  child.stderr!.on('data', (chunk: Buffer) => {
    stderr += chunk.toString('latin1');
  });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`mxpress did not start: ${stdout} ${stderr}`)), 30_000);
    child.once('exit', (code) => reject(new Error(`mxpress exited ${code}: ${stderr}`)));
    child.stdout!.on('data', (chunk: Buffer) => {
      stdout += chunk.toString('latin1');
      const smtp = /SMTP +127\.0\.0\.1:(\d+)/.exec(stdout);
      const http = /HTTP API +(http:\/\/127\.0\.0\.1:\d+)/.exec(stdout);
      if (smtp && http && smtpPort === 0) {
        smtpPort = Number(smtp[1]);
        httpBase = http[1]!;
        clearTimeout(timer);
        resolve();
      }
    });
  });
});

after(() => {
  // Only the child this file started, by its handle; normally it has already exited.
  if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  rmSync(dataDir, { recursive: true, force: true });
});

it('poisoned SMTP commands and HTTP requests forge no log line and put no raw CR or NUL in the log', async () => {
  let attempts = 0;
  const lines: string[] = [];
  for (const p of RAW) {
    lines.push(
      `EHLO host${p}${MARK}`,
      `MAIL FROM:<a${p}${MARK}@example.net>`,
      `RCPT TO:<b${p}${MARK}@example.org>`,
      `RCPT TO:<b@example.org> NOTIFY=FAILURE${p}${MARK}`,
    );
  }
  for (const x of XTEXT) {
    lines.push(
      `MAIL FROM:<a@example.net> ENVID=id${x}${MARK}`,
      `RCPT TO:<b@example.org> ORCPT=rfc822;b${x}${MARK}@x`,
    );
  }
  for (const line of lines) {
    // A session per line: ten refused commands would end a session (maxErrors).
    const s = await rawSession(smtpPort);
    await s.expect(220);
    await s.command('EHLO client.example', 250);
    if (line.startsWith('RCPT')) await s.command('MAIL FROM:<a@example.net>', 250);
    s.send(`${line}\r\n`);
    const reply = await s.reply();
    assert.ok(reply && reply.code >= 500, `${JSON.stringify(line)} got ${reply?.lines.join(' | ')}`);
    if (line.includes('\n')) await s.expect(500);
    await s.command('QUIT', 221);
    s.close();
    attempts++;
  }

  for (const p of [...RAW, '\r\n']) {
    const reply = await fetch(`${httpBase}/api/v1/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        from: 'a@example.net',
        to: ['b@example.org'],
        subject: `x${p}${MARK}: y`,
        text: 'hi',
      }),
      signal: AbortSignal.timeout(10_000),
    });
    assert.equal(reply.status, 400);
    const path = await fetch(`${httpBase}/api/v1/messages/id${encodeURIComponent(`${p}${MARK}`)}`, {
      signal: AbortSignal.timeout(10_000),
    });
    assert.ok(path.status >= 400, `poisoned path got ${path.status}`);
    attempts += 2;
  }
  for (const p of RAW) {
    const socket = connect(Number(new URL(httpBase).port), '127.0.0.1');
    await new Promise((resolve) => socket.once('connect', resolve));
    socket.write(
      `GET /api/v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Note: a${p}${MARK}\r\nConnection: close\r\n\r\n`,
    );
    await new Promise((resolve) => {
      socket.once('close', resolve);
      socket.resume();
    });
    attempts++;
  }

  // Stop it (SIGTERM to the process this test started) so every log line is flushed.
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
  await exited;
  clearTimeout(timer);

  const log = stdout + stderr;
  assert.ok(!log.includes('\r'), 'a raw CR in the log');
  assert.ok(!log.includes('\0'), 'a raw NUL in the log');
  for (const line of log.split('\n')) {
    assert.ok(!line.startsWith(MARK), `a forged log line: ${JSON.stringify(line)}`);
    if (line.startsWith('{'))
      assert.doesNotThrow(() => JSON.parse(line), `not JSON: ${JSON.stringify(line)}`);
    else if (line.includes(MARK)) assert.fail(`the marker outside a JSON log line: ${JSON.stringify(line)}`);
  }
  assert.match(stdout, /"msg":"stopped"/, 'the log was captured to the end');
  assert.equal(attempts, 27);
});
