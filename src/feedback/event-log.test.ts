/**
 * Tests for the event log file: one JSON line per event in order, batched writes,
 * rotation at maxBytes keeping `keep` old files, dropping (and counting) when the
 * queue is full, and nothing written after close.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { LifecycleEvent } from '../contracts/events.ts';
import { EventLog, eventLine } from './event-log.ts';

let root: string;
let n = 0;
before(async () => {
  root = await mkdtemp(join(tmpdir(), 'mxpress-event-log-'));
});
after(async () => {
  await rm(root, { recursive: true, force: true });
});

function event(seq: number): LifecycleEvent {
  return {
    type: 'received',
    seq,
    at: 1_700_000_000_000 + seq,
    messageId: `M${String(seq).padStart(6, '0')}`,
    from: 'sender@example.com',
    recipients: ['a@example.com'],
    size: 1234,
    origin: { kind: 'smtp', clientIp: '127.0.0.1', authUser: 'alice' },
  };
}

async function lines(path: string): Promise<Record<string, unknown>[]> {
  const text = await readFile(path, 'utf8');
  assert.ok(text === '' || text.endsWith('\n'), 'whole lines only');
  return text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

describe('EventLog', () => {
  it('writes one JSON line per event, in order, without blocking the caller', async () => {
    const dir = join(root, `log-${n++}`, 'nested');
    const path = join(dir, 'events.log');
    const log = new EventLog({ path, maxBytes: 64 * 1024 * 1024, keep: 3 });
    await log.open();
    for (let seq = 1; seq <= 2000; seq++) log.append(event(seq));
    assert.equal((await stat(path)).size, 0, 'nothing written synchronously by append');
    await log.flush();
    const got = await lines(path);
    assert.equal(got.length, 2000);
    assert.deepEqual(got[0], JSON.parse(JSON.stringify(event(1))));
    assert.deepEqual(
      got.map((l) => l.seq),
      Array.from({ length: 2000 }, (_, i) => i + 1),
    );
    await log.close();
    log.append(event(2001));
    assert.equal((await lines(path)).length, 2000, 'ignored after close');
  });

  it('leaves out seq while it is 0 (published before the spool numbered it)', () => {
    const line = eventLine({ ...event(0) });
    assert.equal(JSON.parse(line).seq, undefined);
    assert.equal(JSON.parse(line).messageId, 'M000000');
  });

  it('rotates before maxBytes, keeps `keep` old files, and loses no line of the kept ones', async () => {
    const dir = join(root, `log-${n++}`);
    const path = join(dir, 'events.log');
    const lineBytes = Buffer.byteLength(eventLine(event(100000)));
    const maxBytes = lineBytes * 10;
    const log = new EventLog({ path, maxBytes, keep: 2 });
    await log.open();
    // Several batches: one big one spanning rotations, then small ones.
    for (let seq = 100001; seq <= 100035; seq++) log.append(event(seq));
    await log.flush();
    for (let seq = 100036; seq <= 100045; seq++) {
      log.append(event(seq));
      await log.flush();
    }
    await log.close();
    assert.deepEqual((await readdir(dir)).sort(), ['events.log', 'events.log.1', 'events.log.2']);
    const files = [`${path}.2`, `${path}.1`, path];
    const all: number[] = [];
    for (const file of files) {
      assert.ok((await stat(file)).size <= maxBytes, `${file} within maxBytes`);
      all.push(...(await lines(file)).map((l) => l.seq as number));
    }
    // 45 lines of 10 per file: the newest 5 in the current file, 10 in each old file.
    assert.deepEqual(
      all,
      Array.from({ length: 25 }, (_, i) => 100021 + i),
    );
  });

  it('keeps no old file with keep 0', async () => {
    const dir = join(root, `log-${n++}`);
    const path = join(dir, 'events.log');
    const log = new EventLog({ path, maxBytes: Buffer.byteLength(eventLine(event(1))) * 3, keep: 0 });
    await log.open();
    for (let seq = 1; seq <= 7; seq++) log.append(event(seq));
    await log.close();
    assert.deepEqual(await readdir(dir), ['events.log']);
    assert.deepEqual(
      (await lines(path)).map((l) => l.seq),
      [7],
    );
  });

  it('drops and counts events beyond the queue limit instead of growing without bound', async () => {
    const path = join(root, `log-${n++}`, 'events.log');
    const lineBytes = Buffer.byteLength(eventLine(event(1000)));
    const log = new EventLog({ path, maxBytes: 1 << 30, keep: 1, maxPendingBytes: lineBytes * 50 });
    await log.open();
    for (let seq = 1001; seq <= 1080; seq++) log.append(event(seq));
    assert.equal(log.dropped, 30);
    await log.flush();
    for (let seq = 1081; seq <= 1090; seq++) log.append(event(seq));
    await log.close();
    assert.equal((await lines(path)).length, 60);
    assert.equal(log.dropped, 30);
  });

  it('reports a failed write to onError and counts the batch as dropped', async () => {
    const path = join(root, `log-${n++}`, 'events.log');
    const errors: unknown[] = [];
    const log = new EventLog({ path, maxBytes: 300, keep: 1, onError: (e) => errors.push(e) });
    await log.open();
    // Rotation renames events.log to events.log.1: a directory there makes it fail.
    await mkdir(`${path}.1/blocker`, { recursive: true });
    for (let seq = 1; seq <= 5; seq++) log.append(event(seq));
    await log.flush();
    assert.equal(errors.length, 1);
    assert.equal(log.dropped, 4, 'the first line was written before the failed rotation');
    assert.equal((await lines(`${path}`)).length, 1);
    await log.close();
  });
});
