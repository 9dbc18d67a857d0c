#!/usr/bin/env -S node --max-semi-space-size=16
/**
 * mxpress launcher: plain JavaScript that any Node can run.
 *
 * The first line caps V8's young generation at 16 MiB semi-spaces: under a steady
 * flood of short-lived objects (SMTP sessions) V8 otherwise grows them to 64 MiB,
 * and mxpress holds about 90 MB more for the same CPU (lab: 290 against 378 MB after
 * 100k deferrals). It takes effect when this file is run as a program (`npx mxpress`,
 * `./bin/mxpress.js`): V8 reads it at start, not later.
 *
 * On Node >= 24 it loads the TypeScript CLI (src/admin/cli/main.ts) directly
 * (type stripping) and exits with its code. On an older Node it re-executes
 * itself with the pinned Node 24 from node_modules/node/bin/node (found from this
 * file's location), with stdio inherited, the exit code and a terminating signal
 * passed back, and SIGTERM/SIGHUP forwarded. SIGINT/SIGQUIT are forwarded only
 * when we are not in the terminal's foreground process group: a Ctrl-C at the
 * terminal already reaches the child, and forwarding would deliver it twice
 * (which mxpress start reads as "exit at once"). Without the pinned Node it says
 * how to install it and exits 69 (EX_UNAVAILABLE).
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const major = Number(process.versions.node.split('.')[0]);

/** True when this process is in the foreground process group of its terminal (Linux /proc). */
function inTerminalForeground() {
  try {
    const stat = readFileSync('/proc/self/stat', 'utf8');
    // Fields after the ")" that ends the command name: state ppid pgrp session tty_nr tpgid ...
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const pgrp = Number(fields[2]);
    const tpgid = Number(fields[5]);
    return tpgid > 0 && tpgid === pgrp;
  } catch {
    return false;
  }
}

function reexec(nodeBinary) {
  const child = spawn(
    nodeBinary,
    [...process.execArgv, fileURLToPath(import.meta.url), ...process.argv.slice(2)],
    {
      stdio: 'inherit',
    },
  );
  const forwarded = ['SIGTERM', 'SIGHUP', 'SIGINT', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2'];
  const handlers = new Map();
  for (const signal of forwarded) {
    const handler = () => {
      const fromTerminal = (signal === 'SIGINT' || signal === 'SIGQUIT') && inTerminalForeground();
      if (!fromTerminal && child.exitCode === null && child.signalCode === null) child.kill(signal);
    };
    handlers.set(signal, handler);
    process.on(signal, handler);
  }
  child.on('error', (error) => {
    process.stderr.write(`mxpress: cannot run ${nodeBinary}: ${error.message}\n`);
    process.exit(69);
  });
  child.on('exit', (code, signal) => {
    for (const [name, handler] of handlers) process.off(name, handler);
    if (signal !== null) {
      // Die the same way the child did, so a shell or supervisor sees the signal.
      process.kill(process.pid, signal);
      return;
    }
    process.exit(code ?? 1);
  });
}

if (major >= 24) {
  const { main } = await import('../src/admin/cli/main.ts');
  const code = await main(process.argv.slice(2));
  process.exit(code);
} else {
  const nodeBinary = fileURLToPath(new URL('../node_modules/node/bin/node', import.meta.url));
  if (existsSync(nodeBinary)) {
    reexec(nodeBinary);
  } else {
    process.stderr.write(
      `mxpress needs Node.js 24 or newer; this is Node ${process.versions.node}.\n` +
        `The pinned Node 24 was not found at ${nodeBinary}.\n` +
        'Install it with "npm install" in the mxpress directory (it comes from the "node" devDependency),\n' +
        'or run mxpress with Node 24 directly.\n',
    );
    process.exit(69);
  }
}
