/**
 * Seeded fuzzing of every protocol/ parser: random and mutated inputs (>= 20,000 per
 * parser, a few seconds in total). Each must never throw and must return well-formed
 * results: no control characters in decoded values, round trips that hold, replies
 * that are CRLF-framed lines, and a DataDecoder / ContentChecker whose results do not
 * depend on how the input was chunked and agree with a slow reference model.
 * The seed is fixed so failures reproduce; FUZZ_SEED overrides it.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SeededRandom } from '../../test/harness/prng.ts';
import { formatMailbox, type Mailbox, parseMailbox } from './address.ts';
import { parseCommandLine, parseHeloArgument } from './command.ts';
import { ContentChecker } from './content-checker.ts';
import { DataDecoder, type DataDecoderOptions, type LineEndingPolicy } from './data-decoder.ts';
import { decodeUtf8AddrXtext, parseMailFrom, parseRcptTo } from './mail-params.ts';
import { formatReply, MAX_REPLY_LINE_OCTETS } from './reply.ts';
import { decodeXtext, encodeXtext } from './xtext.ts';

const ITERATIONS = 20_000;
const SEED = Number(process.env.FUZZ_SEED ?? 0x5eed);
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

class Fuzzer extends SeededRandom {
  string(alphabet: readonly string[], maxLength: number): string {
    let out = '';
    const length = this.int(maxLength + 1);
    for (let i = 0; i < length; i++) out += this.pick(alphabet);
    return out;
  }
  /** 1..maxEdits random edits: insert, delete, replace, duplicate a slice. */
  mutate(text: string, alphabet: readonly string[], maxEdits: number): string {
    let out = text;
    const edits = 1 + this.int(maxEdits);
    for (let e = 0; e < edits; e++) {
      const at = this.int(out.length + 1);
      switch (this.int(4)) {
        case 0:
          out = out.slice(0, at) + this.pick(alphabet) + out.slice(at);
          break;
        case 1:
          out = out.slice(0, at) + out.slice(at + 1 + this.int(3));
          break;
        case 2:
          out = out.slice(0, at) + this.pick(alphabet) + out.slice(at + 1);
          break;
        default:
          out = out.slice(0, at) + out.slice(at, at + this.int(8)) + out.slice(at);
      }
    }
    return out;
  }
  /** A valid seed with one edit, a seed with several, or random text. */
  input(seeds: readonly string[], alphabet: readonly string[], maxLength: number): string {
    const roll = this.int(4);
    if (roll === 0) return this.string(alphabet, maxLength);
    return this.mutate(this.pick(seeds), alphabet, roll === 1 ? 1 : 4);
  }
}

/** Splits a '|'-separated list (keeps the tables short). */
function list(text: string): string[] {
  return text.split('|');
}

const ADDRESS_ALPHABET = [
  ...'aZ09.@"\\<>:,%!-_+=;/[]{}() \t\r\n\0\x7füé\u0085\ud800\uFFFD\u3002',
  ...list('IPv6:|::1|127.0.0.1|xn--|example.org|😀|+0D|+00|+2B|\\x{|}|E9'),
];

const MAILBOX_SEEDS = list(
  'user@example.org|"a b"@x.test|"u@example.org"@local.test|u%example.org@local.test|u@[127.0.0.1]|' +
    'u@[IPv6:2001:db8::1]|üser@bücher.test|"a\\"b"@x.test|example.org!u@local.test',
);

function assertMailbox(mailbox: Mailbox, allowUtf8: boolean, input: string): void {
  const where = JSON.stringify(input);
  assert.ok(!CONTROL.test(mailbox.local), where);
  assert.ok(!CONTROL.test(mailbox.domain), where);
  assert.ok(allowUtf8 || !mailbox.utf8, where);
  assert.equal(mailbox.domain, mailbox.domain.toLowerCase().replace(/^\[ipv6:/, '[IPv6:'), where);
  if (mailbox.addressLiteral) assert.match(mailbox.domain, /^\[[0-9.]+\]$|^\[IPv6:[0-9a-f:.]+\]$/, where);
  else if (mailbox.domain !== '') assert.doesNotMatch(mailbox.domain, /[\s@[\]<>"\\]|^\.|\.\.|\.$/, where);
  const formatted = formatMailbox(mailbox);
  assert.ok(Buffer.byteLength(formatted) <= 254 + 2, where);
  if (mailbox.domain !== '') {
    const again = parseMailbox(formatted, { allowUtf8 });
    assert.ok(again.ok, `${where} formats as ${formatted} which does not parse`);
    assert.deepEqual(again.value, mailbox, where);
  }
}

function assertError(
  result: { ok: false; code: number; enhanced: string; message: string },
  codes: number[],
) {
  assert.ok(codes.includes(result.code), `${result.code} ${result.message}`);
  assert.match(result.enhanced, /^5\.\d\.\d$/);
  assert.ok(!CONTROL.test(result.message));
}

describe('fuzz: parsers', () => {
  it('parseCommandLine', () => {
    const f = new Fuzzer(SEED);
    const seeds = list('MAIL FROM:<a@b>|RCPT TO:<x@y> NOTIFY=NEVER|DATA|ehlo client.test|QUIT  |BDAT 5 LAST');
    const alphabet = [...ADDRESS_ALPHABET, 'MAIL', 'ehlo', 'STARTTLS', 'ſ', 'ß', ' '];
    for (let n = 0; n < ITERATIONS; n++) {
      const line = f.input(seeds, alphabet, 40);
      const command = parseCommandLine(line);
      assert.ok(!command.keyword.includes(' '));
      assert.doesNotMatch(command.args, /[ \t]$/);
      assert.ok(command.verb === null || command.verb === command.keyword);
      assert.equal(command.keyword.length, line.split(' ')[0]!.length);
    }
  });

  it('parseHeloArgument', () => {
    const f = new Fuzzer(SEED + 1);
    const seeds = ['client.example.org', '[192.0.2.1]', '[IPv6:::1]', 'bücher.test', 'localhost'];
    for (let n = 0; n < ITERATIONS; n++) {
      const arg = f.input(seeds, ADDRESS_ALPHABET, 30);
      const allowUtf8 = f.chance(0.5);
      const result = parseHeloArgument(arg, { allowUtf8 });
      if (result.ok) {
        assert.equal(result.value, arg);
        assert.ok(!CONTROL.test(arg) && !arg.includes(' '), JSON.stringify(arg));
        assert.ok(allowUtf8 || /^[\x21-\x7e]+$/.test(arg), JSON.stringify(arg));
      } else {
        assertError(result, [501]);
      }
    }
  });

  it('parseMailbox and formatMailbox', () => {
    const f = new Fuzzer(SEED + 2);
    for (let n = 0; n < ITERATIONS; n++) {
      const text = f.input(MAILBOX_SEEDS, ADDRESS_ALPHABET, 40);
      const allowUtf8 = f.chance(0.5);
      const result = parseMailbox(text, { allowUtf8 });
      if (result.ok) assertMailbox(result.value, allowUtf8, text);
      else assertError(result, [501, 553]);
    }
  });

  it('parseMailFrom', () => {
    const f = new Fuzzer(SEED + 3);
    const seeds = [
      'FROM:<a@b.test>',
      'FROM:<>',
      'from: <a@b.test> SIZE=100 BODY=8BITMIME',
      'FROM:<ü@bücher.test> SMTPUTF8 RET=HDRS ENVID=x+2By',
      'FROM:<@r.test:a@b.test> AUTH=<>',
    ];
    const alphabet = [
      ...ADDRESS_ALPHABET,
      ' SIZE=',
      ' BODY=',
      ' SMTPUTF8',
      ' RET=',
      ' ENVID=',
      ' AUTH=',
      '9',
    ];
    for (let n = 0; n < ITERATIONS; n++) {
      const args = f.input(seeds, alphabet, 60);
      const ext = { utf8: f.chance(0.5), dsn: f.chance(0.5) };
      const result = parseMailFrom(args, ext);
      if (!result.ok) {
        assertError(result, [501, 553, 555]);
        continue;
      }
      const v = result.value;
      if (v.reversePath) assertMailbox(v.reversePath, ext.utf8 && v.smtputf8, args);
      assert.ok(!v.smtputf8 || ext.utf8);
      assert.ok(v.size === undefined || (Number.isInteger(v.size) && v.size >= 0 && v.size <= 2 ** 53));
      assert.ok(v.envid === undefined || (ext.dsn && !CONTROL.test(v.envid)));
      assert.ok(v.ret === undefined || ext.dsn);
      assert.ok(v.auth === undefined || !CONTROL.test(v.auth));
    }
  });

  it('parseRcptTo', () => {
    const f = new Fuzzer(SEED + 4);
    const seeds = [
      'TO:<x@y.test>',
      'TO:<Postmaster>',
      'to: <x@y.test> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;x+2Bz@y.test',
      'TO:<ü@bücher.test> ORCPT=utf-8;caf\\x{E9}@y.test',
      'TO:<@a.test,@b.test:x@y.test>',
    ];
    const alphabet = [...ADDRESS_ALPHABET, ' NOTIFY=', 'NEVER', 'DELAY', ' ORCPT=', 'rfc822;', 'utf-8;'];
    for (let n = 0; n < ITERATIONS; n++) {
      const args = f.input(seeds, alphabet, 60);
      const ext = { utf8: f.chance(0.5), dsn: f.chance(0.5) };
      const result = parseRcptTo(args, ext);
      if (!result.ok) {
        assertError(result, [501, 553, 555]);
        continue;
      }
      const v = result.value;
      if (v.postmaster) assert.equal(v.forwardPath.domain, '');
      else assertMailbox(v.forwardPath, ext.utf8, args);
      if (v.notify !== undefined) {
        assert.ok(ext.dsn);
        assert.ok(
          v.notify === 'NEVER' || (v.notify.length > 0 && new Set(v.notify).size === v.notify.length),
        );
      }
      if (v.orcpt !== undefined) {
        assert.ok(ext.dsn);
        assert.ok(v.orcpt.address !== '' && !CONTROL.test(v.orcpt.address));
        assert.match(v.orcpt.addrType, /^[a-z0-9][a-z0-9-]*$/);
      }
    }
  });

  it('decodeXtext, encodeXtext and decodeUtf8AddrXtext', () => {
    const f = new Fuzzer(SEED + 5);
    const seeds = ['abc', 'x+2By', 'caf+C3+A9', '+20+3D', 'a\\x{E9}b'];
    const alphabet = [...ADDRESS_ALPHABET, '+', 'A', 'F', '3', 'C3', '+C3+A9', '+ED', '\\x{1F600}'];
    for (let n = 0; n < ITERATIONS; n++) {
      const text = f.input(seeds, alphabet, 30);
      const decoded = decodeXtext(text);
      if (decoded !== null) {
        assert.ok(!CONTROL.test(decoded), JSON.stringify(text));
        assert.equal(decodeXtext(encodeXtext(decoded)), decoded);
      }
      const plain = f
        .string(ADDRESS_ALPHABET, 12)
        .replace(/[\u0000-\u001f\u007f-\u009f]|[\ud800-\udfff]/g, '');
      assert.match(encodeXtext(plain), /^[!-<>-~]*$/);
      assert.equal(decodeXtext(encodeXtext(plain)), plain);
      const utf8 = decodeUtf8AddrXtext(text, f.chance(0.5));
      assert.ok(utf8 === null || !CONTROL.test(utf8), JSON.stringify(text));
    }
  });

  it('formatReply', () => {
    const f = new Fuzzer(SEED + 6);
    const alphabet = [...ADDRESS_ALPHABET, '\r\n', '\r\n250 ', 'x'.repeat(100), '€'.repeat(50)];
    for (let n = 0; n < ITERATIONS; n++) {
      const code = 200 + f.int(400);
      const enhanced = f.chance(0.3) ? undefined : `${f.pick(['2', '4', '5'])}.${f.int(8)}.${f.int(1000)}`;
      const lines = f.int(4);
      const text =
        lines === 0 ? f.string(alphabet, 20) : Array.from({ length: lines }, () => f.string(alphabet, 10));
      const out = formatReply(code, enhanced, text);
      assert.match(out, /^(\d{3}([- ][^\r\n]*)?\r\n)+$/);
      const replyLines = out.slice(0, -2).split('\r\n');
      assert.equal(replyLines.length, Math.max(1, typeof text === 'string' ? 1 : text.length));
      replyLines.forEach((line, i) => {
        const last = i === replyLines.length - 1;
        assert.ok(line.startsWith(`${code}${last ? '' : '-'}`));
        if (last) assert.ok(line === String(code) || line[3] === ' ');
        if (enhanced !== undefined) assert.equal(line.slice(4, 4 + enhanced.length), enhanced);
        assert.ok(!CONTROL.test(line));
        assert.ok(Buffer.byteLength(line) + 2 <= MAX_REPLY_LINE_OCTETS);
      });
    }
  });
});

/** Slow, obviously-correct model of DATA (no size limits): only literal CRLF.CRLF ends it. */
function referenceData(input: string, policy: LineEndingPolicy) {
  const end = `\r\n${input}`.indexOf('\r\n.\r\n');
  const body = end < 0 ? input : input.slice(0, end);
  let bare: 'bare-cr' | 'bare-lf' | undefined;
  for (let i = 0; i < body.length && bare === undefined; i++) {
    if (body[i] === '\r' && i + 1 < input.length && input[i + 1] !== '\n') bare = 'bare-cr';
    if (body[i] === '\n' && body[i - 1] !== '\r') bare = 'bare-lf';
  }
  if (policy === 'reject' && bare !== undefined) return { fatal: true, violation: bare } as const;
  if (end < 0) return { fatal: false, done: false } as const;
  const lines = body.split(/\r\n|\r|\n/).slice(0, -1);
  const out = lines
    .map((line) => `${line.length > 1 && line[0] === '.' ? line.slice(1) : line}\r\n`)
    .join('');
  return { fatal: false, done: true, consumed: end + 3, nul: body.includes('\0'), out } as const;
}

function runDecoder(input: Buffer, options: DataDecoderOptions, chunkSizes: () => number) {
  const decoder = new DataDecoder(options);
  let consumed = 0;
  const out: Buffer[] = [];
  for (let offset = 0; offset < input.length && !decoder.done && !decoder.fatal; ) {
    const chunk = input.subarray(offset, offset + chunkSizes());
    consumed += decoder.push(chunk);
    out.push(...decoder.takeChunks());
    offset += chunk.length;
  }
  const { done, fatal, violation, size } = decoder;
  // Chunks handed out before a violation differ by chunking (the caller discards them anyway).
  const text = violation === undefined ? Buffer.concat(out).toString('latin1') : '';
  return { done, fatal, violation, size, consumed: fatal ? -1 : consumed, out: text };
}

const DATA_ALPHABET = list('a|b| |.|..|\r|\n|\r\n|\r\n.\r\n|.\r\n|\0|ü|xxxxxxxx');
const DATA_SEEDS = list(
  'Subject: x\r\n\r\nbody\r\n.\r\n|a\r\n..b\r\n.\r\nQUIT\r\n|x\n.\nMAIL\r\n.\r\n|.\r\n',
);

describe('fuzz: DATA and BDAT', () => {
  it('DataDecoder: chunking does not matter, and it agrees with the reference model', () => {
    const f = new Fuzzer(SEED + 7);
    for (let n = 0; n < ITERATIONS; n++) {
      const input = Buffer.from(f.input(DATA_SEEDS, DATA_ALPHABET, 30), 'latin1');
      const policy = f.pick(['reject', 'normalize'] as const);
      const small = f.chance(0.5);
      const options = {
        policy,
        maxBytes: small ? 1 + f.int(60) : 1e9,
        maxLineLength: small ? 1 + f.int(20) : 1e9,
        maxHeaderBytes: small ? 1 + f.int(40) : 1e9,
      };
      const whole = runDecoder(input, options, () => input.length);
      const pieces = runDecoder(input, options, () => 1 + f.int(7));
      const bytes = runDecoder(input, options, () => 1);
      const where = `${JSON.stringify(input.toString('latin1'))} ${JSON.stringify(options)}`;
      if (whole.violation === undefined) assert.ok(whole.out.length === whole.size, where);
      assert.deepEqual(pieces, whole, where);
      assert.deepEqual(bytes, whole, where);
      if (small) {
        if (whole.violation === undefined && whole.done) {
          assert.ok(whole.size <= options.maxBytes, where);
          for (const line of whole.out.split('\r\n')) assert.ok(line.length <= options.maxLineLength, where);
        }
        continue;
      }
      const expected = referenceData(input.toString('latin1'), policy);
      assert.equal(whole.fatal, expected.fatal, where);
      if (expected.fatal) {
        assert.equal(whole.violation, expected.violation, where);
        continue;
      }
      assert.equal(whole.done, expected.done, where);
      if (!expected.done) continue;
      assert.equal(whole.consumed, expected.consumed, where);
      assert.equal(whole.size, expected.out.length, where);
      if (expected.nul) assert.equal(whole.violation, 'nul', where);
      else assert.equal(whole.out, expected.out, where);
    }
  });

  it('ContentChecker: chunking does not matter, and it agrees with the reference model', () => {
    const f = new Fuzzer(SEED + 8);
    for (let n = 0; n < ITERATIONS; n++) {
      const input = Buffer.from(f.input(DATA_SEEDS, DATA_ALPHABET, 30), 'latin1');
      const policy = f.pick(['reject', 'normalize'] as const);
      const options = { policy, maxBytes: 1e9, maxLineLength: 1e9, maxHeaderBytes: 1e9 };
      const run = (size: () => number) => {
        const checker = new ContentChecker(options);
        const out: Buffer[] = [];
        for (let offset = 0; offset < input.length; ) {
          const chunk = input.subarray(offset, offset + size());
          out.push(checker.push(chunk));
          offset += chunk.length;
        }
        checker.end();
        const text = checker.violation === undefined ? Buffer.concat(out).toString('latin1') : '';
        return { violation: checker.violation, size: checker.size, out: text };
      };
      const whole = run(() => input.length);
      const where = JSON.stringify(input.toString('latin1'));
      assert.deepEqual(
        run(() => 1 + f.int(5)),
        whole,
        where,
      );
      const text = input.toString('latin1');
      const normalized = text.replace(/\r\n|\r|\n/g, '\r\n');
      const bare = /\r(?!\n)|(?<!\r)\n/.exec(text);
      const nul = text.indexOf('\0');
      let expected: string | undefined;
      if (policy === 'reject' && bare && (nul < 0 || bare.index < nul))
        expected = bare[0] === '\n' ? 'bare-lf' : 'bare-cr';
      else if (nul >= 0) expected = 'nul';
      else if (policy === 'reject' && bare) expected = bare[0] === '\n' ? 'bare-lf' : 'bare-cr';
      assert.equal(whole.violation, expected, where);
      assert.equal(whole.size, normalized.length, where);
      if (expected === undefined) assert.equal(whole.out, normalized, where);
    }
  });
});
