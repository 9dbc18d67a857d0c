/**
 * `mxpress start`: load the configuration, start the runtime, print where to
 * connect, and run until SIGINT or SIGTERM.
 *
 * Exit codes: 78 for a configuration problem (printed as is), 1 when the runtime
 * fails to start or to stop, 0 after a clean stop. The first signal calls
 * `stop('signal')` exactly once and waits for it (at most STOP_LIMIT_MS); a second
 * signal exits 130 at once (one within DUPLICATE_SIGNAL_MS of the first is taken
 * for a duplicate delivery and ignored). The runtime module is imported only here, after the
 * configuration is known to be good, so `config check` and `--help` never load it.
 */

import { ConfigError, loadConfig } from '../../../config/load.ts';
import type { Config } from '../../../config/types.ts';
import { formatBanner, type StartedInfo } from '../banner.ts';
import { type CliIo, EXIT, type StopSignal } from '../io.ts';
import { mxpressVersion } from '../version.ts';
import type { Command } from './command.ts';
import { configFlagsHelp } from './flags-help.ts';

/** A started server, as the runtime reports it. */
export interface RunningServer extends StartedInfo {
  stop(reason: string): Promise<void>;
}

export type StartFunction = (config: Config) => Promise<RunningServer>;

/** How long a stop may take before we give up and exit 1. */
export const STOP_LIMIT_MS = 120_000;

/** Signals closer together than this count as one (see watchSignals). */
export const DUPLICATE_SIGNAL_MS = 500;

async function loadRuntime(): Promise<StartFunction> {
  const { startMxpress } = await import('../../../runtime/start.ts');
  return startMxpress;
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * Watches for stop signals: `first` resolves on the first; a later one exits at
 * once. A repeat arriving within `duplicateWindowMs` of the first is the same
 * event delivered twice (a terminal's Ctrl-C reaches `npm start` and us, and npm
 * forwards it; `timeout` signals the child and its process group), not an
 * impatient operator, so it is ignored.
 */
function watchSignals(
  io: CliIo,
  duplicateWindowMs: number,
  now: () => number,
): { first: Promise<StopSignal>; dispose(): void } {
  let firstAt: number | undefined;
  let dispose = (): void => {};
  const first = new Promise<StopSignal>((resolve) => {
    dispose = io.onSignal((signal) => {
      if (firstAt === undefined) {
        firstAt = now();
        resolve(signal);
        return;
      }
      if (now() - firstAt < duplicateWindowMs) return;
      io.stderr.write(`mxpress: ${signal} again, exiting now\n`);
      io.exit(EXIT.interrupted);
    });
  });
  return { first, dispose };
}

async function stopWithin(server: RunningServer, limitMs: number): Promise<'stopped' | 'timeout'> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), limitMs);
  });
  try {
    return await Promise.race([server.stop('signal').then(() => 'stopped' as const), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

export interface StartCommandOptions {
  /** Loads the runtime's start function (replaceable for in-process tests of this file). */
  readonly load?: () => Promise<StartFunction>;
  readonly stopLimitMs?: number;
  /** Repeats of a signal within this long after the first are ignored (default 500 ms). */
  readonly duplicateWindowMs?: number;
  readonly now?: () => number;
}

export function createStartCommand(options: StartCommandOptions = {}): Command {
  const load = options.load ?? loadRuntime;
  const stopLimitMs = options.stopLimitMs ?? STOP_LIMIT_MS;
  const duplicateWindowMs = options.duplicateWindowMs ?? DUPLICATE_SIGNAL_MS;
  const now = options.now ?? (() => performance.now());
  return {
    name: 'start',
    summary: 'run the server: SMTP listeners, HTTP API and delivery',
    help: () =>
      [
        'Usage: mxpress start [flags]',
        '',
        'Starts the SMTP listeners, the HTTP API and delivery, prints where to connect and',
        'runs until SIGINT or SIGTERM, then drains and exits 0 (a second signal exits at once).',
        'Exits 78 when the configuration is invalid (see "mxpress config check").',
        '',
        configFlagsHelp(),
      ].join('\n'),

    async run(args: readonly string[], io: CliIo): Promise<number> {
      let config: Config;
      try {
        config = await loadConfig({ argv: args, env: io.env, cwd: io.cwd });
      } catch (error) {
        if (!(error instanceof ConfigError)) throw error;
        io.stderr.write(`${error.message}\n`);
        return EXIT.config;
      }
      // Listen for signals before starting, so one during startup is not lost.
      const signals = watchSignals(io, duplicateWindowMs, now);
      try {
        let server: RunningServer;
        try {
          const start = await load();
          server = await start(config);
        } catch (error) {
          if (error instanceof ConfigError) {
            io.stderr.write(`${error.message}\n`);
            return EXIT.config;
          }
          io.stderr.write(`mxpress: cannot start: ${message(error)}\n`);
          return EXIT.failure;
        }
        io.stdout.write(formatBanner(config, server, mxpressVersion()));
        const received = await signals.first;
        io.stderr.write(`mxpress: ${received} received, stopping (send it again to exit at once)\n`);
        try {
          if ((await stopWithin(server, stopLimitMs)) === 'timeout') {
            io.stderr.write(
              `mxpress: stop did not finish within ${Math.round(stopLimitMs / 1000)}s, exiting\n`,
            );
            return EXIT.failure;
          }
        } catch (error) {
          io.stderr.write(`mxpress: stop failed: ${message(error)}\n`);
          return EXIT.failure;
        }
      } finally {
        signals.dispose();
      }
      io.stderr.write('mxpress: stopped\n');
      return EXIT.ok;
    },
  };
}

export const startCommand: Command = createStartCommand();
