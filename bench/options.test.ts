/**
 * Benchmark options: defaults, scenario selection and the hard caps.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseOptions, UsageError } from './options.ts';

test('defaults: the ceiling and all three scenarios, 20,000 messages of 4 KB over 32 loops and 20 domains', () => {
  const o = parseOptions([]);
  assert.deepEqual(o.scenarios, ['ceiling', 'accept', 'e2e', 'latency']);
  assert.equal(o.count, 20_000);
  assert.equal(o.concurrency, 32);
  assert.equal(o.size, 4096);
  assert.equal(o.domains, 20);
  assert.equal(o.reuse, false);
  assert.equal(o.durationSeconds, undefined);
  assert.equal(o.latencyRate, undefined);
  assert.equal(o.queueScale, 0);
  assert.equal(o.maxSeconds, 600);
  assert.equal(o.sink, 'auto');
  assert.equal(o.cpuProfile, false);
  assert.equal(parseOptions(['--cpu-profile']).cpuProfile, true);
  assert.ok(Object.isFrozen(o));
});

test('scenarios are a comma list kept in run order; --queue-scale alone selects queue-scale', () => {
  assert.deepEqual(parseOptions(['--scenario', 'latency,accept']).scenarios, ['accept', 'latency']);
  assert.deepEqual(parseOptions(['--scenario', 'e2e,ceiling']).scenarios, ['ceiling', 'e2e']);
  const q = parseOptions(['--queue-scale', '100000']);
  assert.deepEqual(q.scenarios, ['queue-scale']);
  assert.equal(q.queueScale, 100_000);
  assert.equal(q.maxSeconds, 3600);
  assert.equal(parseOptions(['--scenario', 'queue-scale']).queueScale, 100_000);
  const all = parseOptions(['--scenario', 'all,queue-scale', '--queue-scale', '5000', '--reuse']);
  assert.deepEqual(all.scenarios, ['ceiling', 'accept', 'e2e', 'latency', 'queue-scale']);
  assert.equal(all.reuse, true);
});

test('out-of-range numbers, unknown scenarios and unknown flags are usage errors', () => {
  for (const argv of [
    ['--count', '0'],
    ['--count', '1000001'],
    ['--concurrency', '2.5'],
    ['--size', '10'],
    ['--domains', 'many'],
    ['--max-seconds', '5'],
    ['--scenario', 'soak'],
    ['--sink', 'exim'],
    ['--bogus'],
    ['stray'],
  ])
    assert.throws(() => parseOptions(argv), UsageError, argv.join(' '));
});
