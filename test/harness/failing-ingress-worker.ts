/**
 * The SMTP ingress thread, failing on cue: runs the real thread
 * (src/runtime/ingress-worker.ts) and, once the file named by
 * MXPRESS_TEST_INGRESS_FAIL_FILE appears, removes it and throws an uncaught error,
 * as a bug in a session would. A thread that finds the file named by
 * MXPRESS_TEST_INGRESS_FAIL_START_FILE when it starts removes it and fails before
 * binding anything, as a replacement that cannot start would. Without the files it
 * is the real thread.
 */
import { existsSync, rmSync } from 'node:fs';

const failStart = process.env.MXPRESS_TEST_INGRESS_FAIL_START_FILE;
if (failStart !== undefined && existsSync(failStart)) {
  rmSync(failStart);
  throw new Error('ingress thread failing to start, on cue');
}
await import('../../src/runtime/ingress-worker.ts');

const cue = process.env.MXPRESS_TEST_INGRESS_FAIL_FILE;
if (cue !== undefined) {
  const watch = setInterval(() => {
    if (!existsSync(cue)) return;
    rmSync(cue);
    clearInterval(watch);
    throw new Error('ingress thread failing on cue');
  }, 10);
  watch.unref();
}
