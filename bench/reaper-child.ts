/**
 * Child process: kills the benchmark's other children, and removes its temp
 * data dirs, if the benchmark itself dies without cleaning up (SIGKILL, a crash).
 *
 * Started with fork() by bench/children.ts. The parent sends `{ watch: pid }`,
 * `{ unwatch: pid }`, `{ dir: path }` and `{ undir: path }`; when the IPC
 * channel closes (the parent is gone or is done) every pid still watched gets
 * SIGKILL and every dir still listed is removed. Only pids the parent named are
 * touched, and only dirs named mxpress-bench-* right under the temp dir.
 * Input is the parent's own messages.
 */
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, resolve } from 'node:path';

if (process.send !== undefined) {
  const watched = new Set<number>();
  const dirs = new Set<string>();
  process.on('message', (message: { watch?: number; unwatch?: number; dir?: string; undir?: string }) => {
    if (typeof message.watch === 'number' && message.watch > 1) watched.add(message.watch);
    if (typeof message.unwatch === 'number') watched.delete(message.unwatch);
    if (typeof message.dir === 'string') {
      const dir = resolve(message.dir);
      if (dirname(dir) === resolve(tmpdir()) && basename(dir).startsWith('mxpress-bench-')) dirs.add(dir);
    }
    if (typeof message.undir === 'string') dirs.delete(resolve(message.undir));
  });
  process.on('disconnect', () => {
    for (const pid of watched) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
    process.exit(0);
  });
  process.send({ type: 'ready' });
}
