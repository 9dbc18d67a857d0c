/**
 * Waiting for what another thread publishes: the SMTP ingress thread answers 250 as
 * soon as the spool has synced, while the `received` event reaches the main thread's
 * bus from the spool at about the same moment, not necessarily before.
 *
 * `settled(condition, expected)`: when something is expected, waits until `condition`
 * holds (at most `timeoutMs`, then returns and lets the test's own assertion fail);
 * when nothing is expected, waits `graceMs` so that a stray event would still be seen.
 */
export async function settled(
  condition: () => boolean,
  expected: boolean,
  { timeoutMs = 3000, graceMs = 150 }: { timeoutMs?: number; graceMs?: number } = {},
): Promise<void> {
  if (!expected) {
    await new Promise((resolve) => setTimeout(resolve, graceMs));
    return;
  }
  const deadline = Date.now() + timeoutMs;
  while (!condition() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5));
}
