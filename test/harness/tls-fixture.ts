/**
 * A self-signed test certificate (EC P-256, CN sink.test, SAN sink.test, localhost,
 * 127.0.0.1, ::1; valid until 2126) for TLS in tests: the sink's STARTTLS, test
 * servers. Made once with openssl and committed; never trust it anywhere else.
 * Reads two files next to this module; throws if they are missing.
 */
import { readFileSync } from 'node:fs';

let cached: { key: string; cert: string } | undefined;

export function testTlsCredentials(): { key: string; cert: string } {
  cached ??= {
    key: readFileSync(new URL('./fixtures/sink-test.key', import.meta.url), 'utf8'),
    cert: readFileSync(new URL('./fixtures/sink-test.crt', import.meta.url), 'utf8'),
  };
  return cached;
}
