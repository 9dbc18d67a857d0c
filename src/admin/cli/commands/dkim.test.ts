import assert from 'node:assert/strict';
import { createPublicKey } from 'node:crypto';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { dkimVerify } from 'mailauth/lib/dkim/verify.js';
import { parse } from 'yaml';
import { createDkimSigner } from '../../../delivery/dkim.ts';
import { fakeIo, runCli } from '../test-helpers.ts';
import { dkimKeygenCommand, txtStrings } from './dkim.ts';

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mxpress-dkim-cli-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** The TXT record line of the output: its owner name and its character-strings. */
function txtRecord(stdout: string): { owner: string; strings: string[] } {
  const line = /^(\S+) IN TXT (.+)$/m.exec(stdout);
  assert.ok(line, 'a TXT record line');
  const strings = [...line[2]!.matchAll(/"([^"]*)"/g)].map((m) => m[1]!);
  return { owner: line[1]!, strings };
}

describe('mxpress dkim keygen (spawned)', () => {
  it('writes a 0600 key, prints a TXT record that verifies its signatures, and a config snippet', async () => {
    const out = join(dir, 'keys');
    const r = await runCli(['dkim', 'keygen', 'Example.COM', '--selector', 'mx7', '--out', out], {
      cwd: dir,
      timeoutMs: 30_000,
    });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, '');
    const file = join(out, 'example.com.mx7.key.pem');
    assert.equal((await stat(file)).mode & 0o777, 0o600);
    assert.equal((await stat(out)).mode & 0o777, 0o700);
    const pem = await readFile(file, 'utf8');
    assert.match(pem, /^-----BEGIN PRIVATE KEY-----\n/);

    const { owner, strings } = txtRecord(r.stdout);
    assert.equal(owner, 'mx7._domainkey.example.com.');
    assert.ok(strings.length > 1, 'a 2048-bit key needs more than one string');
    for (const s of strings) assert.ok(s.length <= 255, `string of ${s.length}`);
    const record = strings.join('');
    const publicKey = createPublicKey(pem).export({ type: 'spki', format: 'der' }).toString('base64');
    assert.equal(record, `v=DKIM1; k=rsa; p=${publicKey}`);
    assert.equal(createPublicKey(pem).asymmetricKeyDetails?.modulusLength, 2048);

    const snippet = r.stdout.slice(
      r.stdout.indexOf('delivery:'),
      r.stdout.indexOf('\n\n', r.stdout.indexOf('delivery:')),
    );
    assert.deepEqual(parse(snippet), {
      delivery: { dkim: [{ domain: 'example.com', selector: 'mx7', privateKeyFile: file }] },
    });

    // The key and the record work together: sign with the file, verify against the record.
    const signer = createDkimSigner([{ domain: 'example.com', selector: 'mx7', privateKeyPem: pem }]);
    const signed = await signer.sign(Buffer.from('From: a@example.com\r\nSubject: hi\r\n\r\nbody\r\n'), '');
    const result = await dkimVerify(Buffer.from(signed), {
      resolver: async (name: string) => {
        if (name !== 'mx7._domainkey.example.com')
          throw Object.assign(new Error(name), { code: 'ENOTFOUND' });
        return [strings];
      },
    });
    assert.equal(result.results[0]?.status.result, 'pass');
  });

  it('never overwrites an existing key file', async () => {
    const out = join(dir, 'existing');
    const first = await runCli(['dkim', 'keygen', 'example.org', '--bits', '1024', '--out', out], {
      cwd: dir,
    });
    assert.equal(first.code, 0, first.stderr);
    const file = join(out, 'example.org.mx1.key.pem');
    const before = await readFile(file, 'utf8');
    const second = await runCli(['dkim', 'keygen', 'example.org', '--bits', '1024', '--out', out], {
      cwd: dir,
    });
    assert.equal(second.code, 1);
    assert.match(second.stderr, /already exists/);
    assert.equal(second.stdout, '');
    assert.equal(await readFile(file, 'utf8'), before);
  });

  it('shows its help and is listed by mxpress --help', async () => {
    const help = await runCli(['dkim', 'keygen', '--help'], { cwd: dir });
    assert.equal(help.code, 0);
    assert.match(help.stdout, /Usage: mxpress dkim keygen DOMAIN/);
    const all = await runCli(['--help'], { cwd: dir });
    assert.match(all.stdout, /dkim keygen/);
  });
});

describe('mxpress dkim keygen arguments', () => {
  it('refuses bad arguments with exit 64 and writes nothing', async () => {
    const cases: [string[], RegExp][] = [
      [[], /which domain/],
      [['not a domain!'], /not a domain name/],
      [['localhost'], /not a domain name/],
      [['example.com', 'extra'], /unexpected argument "extra"/],
      [['example.com', '--bits', '512'], /--bits must be one of/],
      [['example.com', '--selector', 'a b'], /not a valid selector/],
      [['example.com', '--colour', 'red'], /colour/],
    ];
    for (const [args, message] of cases) {
      const io = fakeIo({ cwd: dir });
      assert.equal(await dkimKeygenCommand.run(args, io), 64, args.join(' '));
      assert.match(io.err(), message);
      assert.equal(io.out(), '');
    }
    await assert.rejects(stat(join(dir, 'dkim')), { code: 'ENOENT' });
  });

  it('defaults to ./dkim, selector mx1, and accepts a U-label domain', async () => {
    const cwd = join(dir, 'defaults');
    const io = fakeIo({ cwd });
    assert.equal(await dkimKeygenCommand.run(['bücher.example', '--bits', '1024'], io), 0, io.err());
    await stat(join(cwd, 'dkim', 'xn--bcher-kva.example.mx1.key.pem'));
    assert.equal(txtRecord(io.out()).owner, 'mx1._domainkey.xn--bcher-kva.example.');
  });

  it('splits TXT text into strings of at most 255 characters', () => {
    assert.deepEqual(txtStrings('a'.repeat(600)), ['a'.repeat(255), 'a'.repeat(255), 'a'.repeat(90)]);
    assert.deepEqual(txtStrings('short'), ['short']);
  });
});
