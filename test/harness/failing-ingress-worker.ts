/**
 * The SMTP ingress thread, failing on cue: runs the real thread
 * (src/runtime/ingress-worker.ts) and, once the file named by
 * MXPRESS_TEST_INGRESS_FAIL_FILE appears, removes it and throws an uncaught error,
 * as a bug in a session would. The thread started in its place finds no file and
 * stays up.
 */
import { existsSync, rmSync } from 'node:fs';
import '../../src/runtime/ingress-worker.ts';

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
