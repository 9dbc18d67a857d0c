/**
 * Samples CPU time and resident memory of processes from Linux /proc.
 *
 * In: named pids and an interval (default 250 ms). Every tick reads
 * /proc/PID/stat (utime + stime, in clock ticks) and /proc/PID/status (VmRSS,
 * VmHWM); the pid MACHINE stands for the whole machine's busy time (/proc/stat).
 * Out: `window(name, from, to)` gives the average CPU % over a time span (tick
 * delta / wall time; 100 % = one core) and the peak RSS seen in it.
 * A process that exited is simply no longer sampled; reading never throws.
 * Reads only the kernel's own files (trusted input).
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

export interface ProcReading {
  /** utime + stime in seconds. */
  readonly cpuSeconds: number;
  readonly rssBytes: number;
  /** Peak resident set size of the process's life so far. */
  readonly hwmBytes: number;
}

export interface Sample extends ProcReading {
  /** performance.now() of the reading. */
  readonly t: number;
}

export interface WindowSummary {
  /** Average over the window, 100 = one core busy. */
  readonly cpuPercent: number;
  /** Highest 250 ms CPU % in the window. */
  readonly peakCpuPercent: number;
  readonly peakRssBytes: number;
  readonly samples: number;
}

let clockTicks: number | undefined;

/** Kernel clock ticks per second (USER_HZ), 100 when getconf is unavailable. */
export function ticksPerSecond(): number {
  if (clockTicks === undefined) {
    try {
      clockTicks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8', timeout: 2000 }).trim());
    } catch {
      clockTicks = 100;
    }
    if (!Number.isFinite(clockTicks) || clockTicks <= 0) clockTicks = 100;
  }
  return clockTicks;
}

function statusField(status: string, name: string): number {
  const match = new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status);
  return match ? Number(match[1]) * 1024 : 0;
}

/** One reading of a process, or undefined when it is gone. */
export function readProc(pid: number): ProcReading | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    // Fields after the ")" that closes the command name: state is field 3, utime 14, stime 15.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[11]) + Number(fields[12]);
    const status = readFileSync(`/proc/${pid}/status`, 'latin1');
    return {
      cpuSeconds: ticks / ticksPerSecond(),
      rssBytes: statusField(status, 'VmRSS'),
      hwmBytes: statusField(status, 'VmHWM'),
    };
  } catch {
    return undefined;
  }
}

/** Busy CPU time of the whole machine (all cores, everything but idle and iowait) as a reading. */
export function readMachine(): ProcReading | undefined {
  try {
    const line = readFileSync('/proc/stat', 'latin1').split('\n', 1)[0] ?? '';
    const ticks = line.trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal (guest time is already in user).
    const busy = ticks.slice(0, 8).reduce((sum, v, i) => (i === 3 || i === 4 ? sum : sum + (v || 0)), 0);
    return { cpuSeconds: busy / ticksPerSecond(), rssBytes: 0, hwmBytes: 0 };
  } catch {
    return undefined;
  }
}

/** Pid under which `watch` samples the whole machine. */
export const MACHINE = -1;

export class ProcSampler {
  #pids = new Map<string, number>();
  #samples = new Map<string, Sample[]>();
  #timer: NodeJS.Timeout | undefined;
  #intervalMs: number;
  /** Bound on stored samples per process (about 2 hours at 250 ms). */
  #maxSamples = 30_000;

  constructor(intervalMs = 250) {
    this.#intervalMs = intervalMs;
  }

  /** Starts (or restarts, after a process was replaced) sampling `pid` under `name`. */
  watch(name: string, pid: number): void {
    this.#pids.set(name, pid);
    if (!this.#samples.has(name)) this.#samples.set(name, []);
    this.sample();
  }

  forget(name: string): void {
    this.#pids.delete(name);
  }

  start(): void {
    this.#timer ??= setInterval(() => this.sample(), this.#intervalMs);
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** Takes one reading of every watched process now. */
  sample(): void {
    const t = performance.now();
    for (const [name, pid] of this.#pids) {
      const reading = pid === MACHINE ? readMachine() : readProc(pid);
      const list = this.#samples.get(name);
      if (reading === undefined || list === undefined) continue;
      list.push({ t, ...reading });
      if (list.length > this.#maxSamples) list.splice(0, list.length - this.#maxSamples);
    }
  }

  samples(name: string): readonly Sample[] {
    return this.#samples.get(name) ?? [];
  }

  /** CPU and memory of `name` between two performance.now() times. */
  window(name: string, from: number, to: number): WindowSummary {
    const inside = this.samples(name).filter((s) => s.t >= from - this.#intervalMs && s.t <= to + 1);
    let peakRss = 0;
    let peakCpu = 0;
    let busy = 0;
    let wall = 0;
    for (let i = 0; i < inside.length; i++) {
      const s = inside[i]!;
      peakRss = Math.max(peakRss, s.rssBytes);
      const prev = inside[i - 1];
      if (prev === undefined || s.t <= prev.t) continue;
      const used = s.cpuSeconds - prev.cpuSeconds;
      // A negative delta means the process was replaced (restart): that interval is skipped.
      if (used < 0) continue;
      const dt = (s.t - prev.t) / 1000;
      busy += used;
      wall += dt;
      peakCpu = Math.max(peakCpu, (used / dt) * 100);
    }
    return {
      cpuPercent: wall > 0 ? (busy / wall) * 100 : 0,
      peakCpuPercent: peakCpu,
      peakRssBytes: peakRss,
      samples: inside.length,
    };
  }
}
