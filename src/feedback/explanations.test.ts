/**
 * Tests for the classification data: the category table is complete and consistent
 * with the rules, every example classifies to its own category, the advice the brief
 * promises is there, and docs/errors-faq.md equals what scripts/gen-errors-faq.ts
 * generates (so the FAQ cannot drift from the data). Reads one file; no network.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { describe, it } from 'node:test';
import { FAQ_PATH, renderErrorsFaq } from '../../scripts/gen-errors-faq.ts';
import { classify, parseExplainInput } from './classify.ts';
import { BUILTIN_RULES } from './classify-rules.ts';
import { CATEGORIES, categoryInfo } from './explanations.ts';

const REQUIRED = [
  'bad-mailbox',
  'bad-domain',
  'null-mx',
  'mailbox-full',
  'message-too-large',
  'spam-or-policy',
  'reputation-or-blocklist',
  'missing-ptr-or-helo',
  'greylisting',
  'rate-limited',
  'dns-failure',
  'connection-refused',
  'connection-timeout',
  'network-unreachable',
  'connection-reset',
  'tls-failure',
  'certificate-error',
  'protocol-error',
  'relay-denied',
  'auth-required',
  'content-rejected',
  'encoding-unsupported',
  'server-unavailable',
  'local-error',
  'unknown',
];

describe('categories', () => {
  it('include every required category, once, with kebab-case keys', () => {
    const keys = CATEGORIES.map((c) => c.key);
    assert.equal(new Set(keys).size, keys.length, 'unique keys');
    for (const key of REQUIRED) assert.ok(categoryInfo(key), key);
    for (const key of keys) assert.match(key, /^[a-z]+(-[a-z]+)*$/);
    assert.equal(categoryInfo('no-such-category'), undefined);
  });

  it('have a title, a cause and an action in full sentences, and examples', () => {
    for (const c of CATEGORIES) {
      const { title, cause, action } = c.explanation;
      assert.ok(title.length > 5 && !title.endsWith('.'), `${c.key} title`);
      assert.match(cause, /^[A-Z].{20,}\.$/s, `${c.key} cause`);
      assert.match(action, /^[A-Z].{15,}\.$/s, `${c.key} action`);
      assert.ok(c.examples.length > 0, `${c.key} examples`);
      assert.ok(Object.isFrozen(c) && Object.isFrozen(c.explanation), `${c.key} frozen`);
    }
  });

  it('are the only categories the built-in rules produce, and every category is reachable', () => {
    const used = new Set(BUILTIN_RULES.map((r) => r.category));
    for (const category of used) assert.ok(categoryInfo(category), `rule category ${category}`);
    for (const c of CATEGORIES) assert.ok(used.has(c.key), `no rule yields ${c.key}`);
    const ids = BUILTIN_RULES.map((r) => r.id);
    assert.equal(new Set(ids).size, ids.length, 'unique rule ids');
  });

  it('each example classifies to its own category', () => {
    for (const c of CATEGORIES) {
      for (const example of c.examples) {
        const input = parseExplainInput(example);
        assert.ok(input, `parse ${example}`);
        const v = classify(input);
        assert.equal(v.category, c.key, `${example} (rule ${v.rule})`);
      }
    }
  });

  it('give the advice people need most', () => {
    for (const key of ['connection-refused', 'connection-timeout']) {
      const { action } = categoryInfo(key)!.explanation;
      assert.match(action, /port 25/, key);
      assert.match(action, /delivery\.routes/, key);
    }
    assert.match(categoryInfo('bad-mailbox')!.explanation.action, /typo/);
    assert.match(categoryInfo('missing-ptr-or-helo')!.explanation.action, /PTR/);
    assert.match(categoryInfo('mailbox-full')!.explanation.cause, /quota/);
  });
});

describe('docs/errors-faq.md', () => {
  it('is exactly what scripts/gen-errors-faq.ts generates (run it after changing the data)', async () => {
    const committed = await readFile(FAQ_PATH, 'utf8');
    assert.equal(committed, renderErrorsFaq());
  });

  it('has a section per category and lists local and enhanced codes', () => {
    const faq = renderErrorsFaq();
    for (const c of CATEGORIES) {
      assert.ok(faq.includes(`<a id="${c.key}"></a>`), c.key);
      assert.ok(faq.includes(c.explanation.action), `${c.key} action`);
    }
    assert.match(faq, /\| `ECONNREFUSED` \| \[`connection-refused`\]/);
    assert.match(faq, /\| `X\.1\.1` \| \[`bad-mailbox`\]/);
  });
});
