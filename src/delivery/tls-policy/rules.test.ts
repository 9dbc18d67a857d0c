/**
 * Tests for the `delivery.tls` rule matching (pure): domain, wildcard, MX and
 * catch-all patterns, first match wins, `may` by default.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { tlsPolicyFor } from './rules.ts';

const rules = [
  { match: 'example.com', policy: 'verify' },
  { match: '*.example.com', policy: 'encrypt' },
  { match: 'mx:*.google.com', policy: 'verify' },
  { match: 'legacy.test', policy: 'none' },
] as const;

test('first matching rule wins; domain, subdomain and MX patterns', () => {
  assert.equal(tlsPolicyFor(rules, 'example.com', ['mx.example.com']), 'verify');
  assert.equal(tlsPolicyFor(rules, 'a.example.com', ['mx.example.com']), 'encrypt');
  assert.equal(tlsPolicyFor(rules, 'gmail.test', ['alt1.aspmx.l.google.com.']), 'verify');
  assert.equal(tlsPolicyFor(rules, 'Legacy.Test', ['mx.legacy.test']), 'none');
});

test('no match means opportunistic TLS; a catch-all rule changes that', () => {
  assert.equal(tlsPolicyFor(rules, 'other.test', ['mx.other.test']), 'may');
  assert.equal(tlsPolicyFor([], 'other.test', []), 'may');
  assert.equal(
    tlsPolicyFor([...rules, { match: '*', policy: 'encrypt' }], 'other.test', ['mx.other.test']),
    'encrypt',
  );
  // `*.example.com` does not cover example.com itself, and an MX rule ignores the domain.
  assert.equal(tlsPolicyFor([{ match: '*.example.com', policy: 'none' }], 'example.com', []), 'may');
  assert.equal(
    tlsPolicyFor([{ match: 'mx:example.com', policy: 'none' }], 'example.com', ['mx.test']),
    'may',
  );
});
