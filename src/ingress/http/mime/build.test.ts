/**
 * Tests for the MIME builder and its encoders. Built messages are read back by an
 * independent parser, Python's `email` package (policy.default), so the checks
 * are about what a real reader sees (line endings shown as LF); the encoders' shape rules (line lengths,
 * folding, 7-bit output) are checked on the bytes. The Python cases skip when
 * /usr/bin/python3 is missing.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { describe, it } from 'node:test';
import { buildMime, type MimeInput } from './build.ts';
import { encodedWords, mimeParameter, phrase, quotedPrintable, unstructuredField } from './encoding.ts';

const PYTHON = '/usr/bin/python3';

/** Parses `message` with Python's email package and returns what a reader sees. */
async function parseWithPython(message: Buffer): Promise<{
  headers: Record<string, string>;
  parts: { type: string; filename: string | null; text?: string; b64?: string }[];
}> {
  const program = `
import sys, json, base64, email
from email import policy
m = email.message_from_bytes(sys.stdin.buffer.read(), policy=policy.default)
if m.defects: raise SystemExit('defects: %r' % m.defects)
out = {'headers': {k: str(v) for k, v in m.items()}, 'parts': []}
for p in m.walk():
    if p.is_multipart(): continue
    if p.defects: raise SystemExit('part defects: %r' % p.defects)
    entry = {'type': p.get_content_type(), 'filename': p.get_filename()}
    if p.get_content_maintype() == 'text': entry['text'] = p.get_content().replace('\\r\\n', '\\n')
    else: entry['b64'] = base64.b64encode(p.get_payload(decode=True)).decode()
    out['parts'].append(entry)
print(json.dumps(out))
`;
  const child = execFile(PYTHON, ['-c', program], { encoding: 'utf8', timeout: 10_000 });
  child.stdin?.end(message);
  const output = await new Promise<string>((resolve, reject) => {
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (d: string) => {
      stdout += d;
    });
    child.stderr?.on('data', (d: string) => {
      stderr += d;
    });
    child.on('close', (code) => (code === 0 ? resolve(stdout) : reject(new Error(`python: ${stderr}`))));
  });
  return JSON.parse(output);
}

function base(overrides: Partial<MimeInput> = {}): MimeInput {
  return {
    from: { name: 'Ann Sender', mailbox: 'ann@example.test' },
    to: [{ mailbox: 'bob@example.test' }],
    cc: [],
    subject: 'Hello',
    text: 'plain body\n',
    headers: [],
    attachments: [],
    date: Date.UTC(2026, 0, 2, 3, 4, 5),
    ...overrides,
  };
}

function assertLineShape(message: Buffer): void {
  const text = message.toString('latin1');
  assert.ok(!/\r(?!\n)|(?<!\r)\n/.test(text), 'CRLF only');
  for (const line of text.split('\r\n')) assert.ok(line.length <= 998, `line of ${line.length}`);
}

describe('MIME encoders', () => {
  it('quoted-printable keeps lines at 76, encodes =, 8-bit and trailing space', () => {
    const encoded = quotedPrintable(`${'x'.repeat(200)}\nä = b \nend`);
    for (const line of encoded.split('\r\n')) assert.ok(line.length <= 76, line);
    assert.match(encoded, /=C3=A4 =3D b=20\r\n/);
    assert.ok(encoded.endsWith('end\r\n'));
    assert.equal(quotedPrintable('one\n'), 'one\r\n', 'a final newline adds no empty line');
  });

  it('encoded words stay under 75 characters and never split a character', () => {
    const text = 'ü€😀'.repeat(40);
    const words = encodedWords(text);
    assert.ok(words.length > 1);
    let decoded = '';
    for (const word of words) {
      assert.ok(word.length <= 75, word);
      const inner = /^=\?UTF-8\?B\?([A-Za-z0-9+/=]+)\?=$/.exec(word)?.[1];
      assert.ok(inner);
      const bytes = Buffer.from(inner, 'base64');
      // Each word decodes on its own: no character is cut in half.
      assert.equal(new TextDecoder('utf-8', { fatal: true }).decode(bytes).length > 0, true);
      decoded += bytes.toString('utf8');
    }
    assert.equal(decoded, text);
  });

  it('folds long ASCII fields at whitespace and encodes what cannot fold', () => {
    const folded = unstructuredField('Subject', 'word '.repeat(60).trim());
    const lines = folded.split('\r\n').filter((l) => l !== '');
    assert.ok(lines.length > 1);
    for (const [i, line] of lines.entries()) {
      assert.ok(line.length <= 78, line);
      if (i > 0) assert.match(line, /^ \S/);
    }
    const unbroken = unstructuredField('X-Long', 'y'.repeat(2000));
    for (const line of unbroken.split('\r\n')) assert.ok(line.length <= 998);
    assert.match(unbroken, /^X-Long: =\?UTF-8\?B\?/);
    assert.match(unstructuredField('X-Fake', 'a =?utf-8?q?x?= b'), /^X-Fake: =\?UTF-8\?B\?/, 'no fake words');
  });

  it('display names: atoms as is, specials quoted, non-ASCII encoded', () => {
    assert.equal(phrase('Ann Sender'), 'Ann Sender');
    assert.equal(phrase('Doe, "J" \\ Co'), '"Doe, \\"J\\" \\\\ Co"');
    assert.match(phrase('Zoë'), /^=\?UTF-8\?B\?/);
  });

  it('parameters: quoted when plain, RFC 2231 continuations otherwise', () => {
    assert.equal(mimeParameter('filename', 'a b.pdf'), ';\r\n filename="a b.pdf"');
    const long = mimeParameter('filename', `${'é'.repeat(60)}.txt`);
    assert.match(long, /filename\*0\*=UTF-8''%C3%A9/);
    assert.match(long, /filename\*1\*=/);
    for (const line of long.split('\r\n')) assert.ok(line.length <= 78, line);
  });
});

describe('buildMime read back by Python email', {
  skip: !existsSync(PYTHON) && `${PYTHON} not installed`,
}, () => {
  it('a plain text message: 7bit, header fields in order, Date from the input', async () => {
    const message = buildMime(base());
    assertLineShape(message);
    const text = message.toString('utf8');
    assert.match(text, /^Date: Fri, 2 Jan 2026 03:04:05 \+0000\r\nFrom: Ann Sender <ann@example.test>\r\n/);
    assert.match(text, /Content-Transfer-Encoding: 7bit/);
    assert.ok(!/^Bcc:/im.test(text));
    assert.ok(!/^Message-ID:/im.test(text), 'left to the acceptor');
    const parsed = await parseWithPython(message);
    assert.equal(parsed.headers.Subject, 'Hello');
    assert.equal(parsed.headers.To, 'bob@example.test');
    assert.deepEqual(parsed.parts, [{ type: 'text/plain', filename: null, text: 'plain body\n' }]);
  });

  it('text + html + attachments: mixed(alternative, files) with non-ASCII everywhere', async () => {
    const binary = Uint8Array.from({ length: 3000 }, (_, i) => (i * 7) & 0xff);
    const message = buildMime(
      base({
        from: { name: 'Zoë Ångström', mailbox: 'zoe@example.test' },
        to: [{ name: 'Bob, Jr.', mailbox: 'bob@example.test' }, { mailbox: 'carol@example.test' }],
        cc: [{ name: '李雷', mailbox: 'li@example.test' }],
        subject: `Grüße — ${'long subject '.repeat(10)}😀`,
        text: `Hallo Wörld\nline two with trailing space \n${'z'.repeat(1500)}\n`,
        html: '<p>Hallo <b>Wörld</b></p>',
        headers: [
          ['X-Campaign', 'spring 2026'],
          ['X-Note', 'naïve'],
        ],
        attachments: [
          { filename: 'data.bin', contentType: 'application/octet-stream', content: binary },
          { filename: 'résumé final.txt', contentType: 'text/plain', content: Buffer.from('hi there\r\n') },
        ],
      }),
    );
    assertLineShape(message);
    assert.ok(
      message.every((b) => b < 128),
      '7-bit on the wire',
    );
    const parsed = await parseWithPython(message);
    assert.equal(parsed.headers.From, 'Zoë Ångström <zoe@example.test>');
    assert.equal(parsed.headers.To, '"Bob, Jr." <bob@example.test>, carol@example.test');
    assert.equal(parsed.headers.Cc, '李雷 <li@example.test>');
    assert.equal(parsed.headers.Subject, `Grüße — ${'long subject '.repeat(10)}😀`);
    assert.equal(parsed.headers['X-Campaign'], 'spring 2026');
    assert.equal(parsed.headers['X-Note'], 'naïve');
    assert.equal(parsed.headers['MIME-Version'], '1.0');
    assert.match(parsed.headers['Content-Type'] ?? '', /^multipart\/mixed/);
    assert.deepEqual(
      parsed.parts.map((p) => [p.type, p.filename]),
      [
        ['text/plain', null],
        ['text/html', null],
        ['application/octet-stream', 'data.bin'],
        ['text/plain', 'résumé final.txt'],
      ],
    );
    assert.equal(parsed.parts[0]?.text, `Hallo Wörld\nline two with trailing space \n${'z'.repeat(1500)}\n`);
    assert.equal(parsed.parts[1]?.text, '<p>Hallo <b>Wörld</b></p>\n');
    assert.equal(parsed.parts[2]?.b64, Buffer.from(binary).toString('base64'));
    assert.equal(parsed.parts[3]?.text, 'hi there\n');
  });

  it('html only, no text: a single text/html part', async () => {
    const { text: _t, ...rest } = base();
    const parsed = await parseWithPython(buildMime({ ...rest, html: '<i>only</i>' }));
    assert.deepEqual(
      parsed.parts.map((p) => p.type),
      ['text/html'],
    );
  });
});
