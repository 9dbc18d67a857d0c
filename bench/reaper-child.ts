/**
 * Child process: kills the benchmark's other children if the benchmark itself
 * dies without cleaning up (SIGKILL, a crash in a native module).
 *
 * Started with fork() by bench/children.ts. The parent sends `{ watch: pid }`
 * and `{ unwatch: pid }`; when the IPC channel closes (the parent is gone or is
 * done) every pid still watched gets SIGKILL. Only pids the parent named are
 * touched. Input is the parent's own messages.
 */
if (process.send !== undefined) {
  const watched = new Set<number>();
  process.on('message', (message: { watch?: number; unwatch?: number }) => {
    if (typeof message.watch === 'number' && message.watch > 1) watched.add(message.watch);
    if (typeof message.unwatch === 'number') watched.delete(message.unwatch);
  });
  process.on('disconnect', () => {
    for (const pid of watched) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    process.exit(0);
  });
  process.send({ type: 'ready' });
}
