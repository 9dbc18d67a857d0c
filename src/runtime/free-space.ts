/**
 * The data disk's free space, read in the background once a second, so that the
 * checks that refuse new mail on a full disk (SMTP MAIL, HTTP injection) read a number
 * instead of waiting for a statfs per message. Both the main thread and the SMTP
 * ingress thread keep one.
 *
 * In: how to read the free bytes (the spool's `freeBytes`, or `diskFreeBytes` of the
 * data dir in a thread without the spool front). Out: `bytes`, the last reading;
 * `stop`. A failed reading keeps the previous value and is logged.
 */
export interface FreeSpace {
  readonly bytes: number;
  stop(): void;
}

const READ_EVERY_MS = 1000;

export async function watchFreeSpace(
  read: () => Promise<number>,
  log: (level: 'warn', message: string, fields?: Record<string, unknown>) => void,
): Promise<FreeSpace> {
  let bytes = Number.MAX_SAFE_INTEGER;
  const update = (): Promise<void> =>
    read().then(
      (value) => {
        bytes = value;
      },
      (error: unknown) => log('warn', 'could not read free disk space', { error: String(error) }),
    );
  await update();
  const timer = setInterval(() => void update(), READ_EVERY_MS);
  timer.unref();
  return {
    get bytes() {
      return bytes;
    },
    stop: () => clearInterval(timer),
  };
}
