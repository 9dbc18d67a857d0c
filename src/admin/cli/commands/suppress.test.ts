/**
 * Tests for `mxpress suppress`, run through main() in-process against a real HTTP
 * API on 127.0.0.1 (buildHttpApi with a real suppression list, feedback store and
 * spool): every subcommand, the exit codes for usage errors, refusals, bad data and
 * an unreachable API.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { SqliteFeedbackStore } from '../../../feedback/store/sqlite-feedback-store.ts';
import { SuppressionList } from '../../../feedback/suppression.ts';
import { createSqliteSpool, type SqliteSpool } from '../../../spool/sqlite/index.ts';
import { buildHttpApi } from '../../http-api/server.ts';
import { main } from '../main.ts';
import { fakeIo } from '../test-helpers.ts';

let root: string;
let spool: SqliteSpool;
let store: SqliteFeedbackStore;
let app: FastifyInstance;
let api: string;

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'mxpress-suppress-cli-'));
  spool = createSqliteSpool({ dataDir: join(root, 'spool'), inProcess: true });
  await spool.open();
  store = new SqliteFeedbackStore({ dataDir: root });
  await store.open();
  const suppression = new SuppressionList({ store, config: { enabled: true, ttlMs: 0 } });
  await suppression.load();
  app = buildHttpApi({ spool, runtimeStats: () => ({}), tokenHashes: [], suppression });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  assert.ok(address && typeof address === 'object');
  api = `http://127.0.0.1:${address.port}`;
});

after(async () => {
  await app?.close();
  await store?.close();
  await spool?.close();
  await rm(root, { recursive: true, force: true });
});

async function cli(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  const io = fakeIo({ cwd: root, env: { MXPRESS_API: api } });
  const code = await main(['suppress', ...args], io);
  return { code, out: io.out(), err: io.err() };
}

describe('mxpress suppress', () => {
  it('adds, lists, removes, and says when an address is not suppressed', async () => {
    let r = await cli('add', 'Ann@Example.com', '--reason', 'asked to stop', '--expires', '2099-01-02');
    assert.equal(r.code, 0, r.err);
    assert.equal(r.out, 'suppressed ann@example.com until 2099-01-02T00:00:00.000Z\n');
    assert.equal((await cli('add', 'bob@example.com')).code, 0);

    r = await cli('list');
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /^ADDRESS\s+EXPIRES\s+REASON\n/);
    assert.match(r.out, /^ann@example\.com\s+2099-01-02\s+asked to stop$/m);
    assert.match(r.out, /^bob@example\.com\s+never\s+added by the operator$/m);

    r = await cli('list', '--limit', '1', '--json');
    const page = JSON.parse(r.out);
    assert.equal(page.items.length, 1);
    assert.equal(page.next, 'ann@example.com');
    r = await cli('list', '--limit', '1');
    assert.match(r.out, /more: mxpress suppress list --after ann@example\.com/);

    r = await cli('remove', 'BOB@example.com');
    assert.equal(r.code, 0, r.err);
    r = await cli('remove', 'bob@example.com');
    assert.equal(r.code, 1);
    assert.match(r.err, /404 Not Found: address: bob@example\.com is not suppressed/);
  });

  it('exits 65 with the server problem for a bad address', async () => {
    const r = await cli('add', 'not-an-address');
    assert.equal(r.code, 65);
    assert.match(r.err, /^mxpress: suppress: 400 Bad Request: address: "not-an-address": missing domain\n$/);
  });

  it('imports CSV and JSON lines files and exports both formats', async () => {
    await writeFile(
      join(root, 'list.csv'),
      'address,reason\nc1@example.com,one\n"c2@example.com","two, quoted"\n',
    );
    await writeFile(join(root, 'list.ndjson'), '{"address":"c3@example.com","reason":"three"}\n');
    await writeFile(join(root, 'bad.csv'), 'ok@example.com\nbroken line\n');
    let r = await cli('import', 'list.csv');
    assert.equal(r.code, 0, r.err);
    assert.equal(r.out, 'imported: 2 added, 0 updated\n');
    r = await cli('import', 'list.ndjson');
    assert.equal(r.out, 'imported: 1 added, 0 updated\n');
    r = await cli('import', 'bad.csv');
    assert.equal(r.code, 65);
    assert.match(
      r.err,
      /400 Bad Request: import refused: 1 problem\(s\), nothing stored\n {2}line 2: "broken line": /,
    );

    r = await cli('export');
    assert.equal(r.code, 0, r.err);
    const lines = r.out.trimEnd().split('\n');
    assert.equal(lines[0], 'address,reason,message_id,created_at,expires_at');
    assert.ok(lines.some((l) => l.startsWith('c2@example.com,"two, quoted",,')));
    r = await cli('export', '--format', 'jsonl');
    const addresses = r.out
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l).address);
    assert.ok(['c1@example.com', 'c2@example.com', 'c3@example.com'].every((a) => addresses.includes(a)));
    assert.ok(!addresses.includes('ok@example.com'), 'the refused import stored nothing');
  });

  it('exits 64 for usage errors and 69 when the API is unreachable', async () => {
    for (const args of [
      [],
      ['frobnicate'],
      ['add'],
      ['add', 'a@example.com', 'b@example.com'],
      ['list', '--reason', 'x'],
      ['list', '--limit', '0'],
      ['add', 'a@example.com', '--expires', 'tomorrow'],
      ['import', 'list.txt'],
      ['export', '--format', 'xml'],
      ['list', '--bogus'],
      ['list', '--api', 'ftp://127.0.0.1'],
    ]) {
      const r = await cli(...args);
      assert.equal(r.code, 64, `${args.join(' ')}: ${r.err}`);
      assert.match(r.err, /see mxpress suppress --help/);
    }
    const missing = await cli('import', 'nope.csv');
    assert.equal(missing.code, 65);
    const down = await cli('list', '--api', 'http://127.0.0.1:1');
    assert.equal(down.code, 69);
    assert.match(down.err, /cannot reach the mxpress API at http:\/\/127\.0\.0\.1:1/);
  });

  it('prints its help', async () => {
    const r = await cli('--help');
    assert.equal(r.code, 0);
    assert.match(r.out, /^Usage: mxpress suppress <subcommand>/);
    assert.match(r.out, /import FILE \[--format csv\|jsonl\]/);
  });
});
