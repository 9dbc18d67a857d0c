/**
 * Samples CPU time and resident memory of processes from Linux /proc.
 *
 * In: named pids and an interval (default 250 ms). Every tick reads
 * /proc/PID/stat (utime + stime, in clock ticks) and /proc/PID/status (VmRSS,
 * VmHWM); the pid MACHINE stands for the whole machine's busy time (/proc/stat).
 * Out: `window(name, from, to)` gives the average CPU % over a time span (tick
 * delta / wall time; 100 % = one core) and the peak RSS seen in it. A process
 * watched with `threads` also has its threads read (/proc/PID/task/TID/stat and
 * status), summed by thread name: `threadWindow` gives each name's CPU %, the system
 * (kernel) part of it and its context switches per second over a span: the times it
 * went to sleep waiting for work (voluntary) and the times it was taken off a CPU
 * while it still had work (involuntary, when another task was woken or its slice ran
 * out), and, from /proc/PID/task/TID/io, its read and write system calls (sockets,
 * files and the wake-ups between threads alike) and the bytes it sent towards the
 * disk. The machine's reading also counts its context switches (`ctxt` in /proc/stat).
 * A process that exited is simply no longer sampled; reading never throws.
 * Reads only the kernel's own files (trusted input).
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, statfsSync } from 'node:fs';

export interface ProcReading {
  /** utime + stime in seconds. */
  readonly cpuSeconds: number;
  readonly rssBytes: number;
  /** Peak resident set size of the process's life so far. */
  readonly hwmBytes: number;
  /** MACHINE only: context switches since boot, all CPUs. */
  readonly switches?: number;
}

/** What a thread has used so far: CPU seconds and context switches. */
export interface ThreadUse {
  readonly user: number;
  readonly system: number;
  /** Voluntary context switches: the thread slept, waiting for work. */
  readonly sleeps: number;
  /** Involuntary context switches: the thread was runnable but taken off its CPU. */
  readonly preemptions: number;
  /** Its system calls and disk bytes, when /proc let them be read for every thread of the name. */
  readonly io: IoUse | undefined;
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/** Read and write system calls (`syscr`, `syscw`) and bytes sent towards the disk (`write_bytes`). */
export interface IoUse {
  readonly reads: number;
  readonly writes: number;
  /** Bytes this thread made the file system write to storage (0 on tmpfs). */
  readonly diskBytes: number;
}

/** No I/O at all: where a sum of counters starts. */
export const NO_IO: IoUse = { reads: 0, writes: 0, diskBytes: 0 };

/** statfs type of tmpfs. */
const TMPFS_MAGIC = 0x01021994;

/** True when `dir` is on tmpfs, where written bytes never go towards a disk (`diskBytes` stays 0). */
export function onTmpfs(dir: string): boolean {
  return statfsSync(dir).type === TMPFS_MAGIC;
}

/** What a process's threads have used so far, summed by thread name. */
export type ThreadTimes = ReadonlyMap<string, ThreadUse>;

export interface Sample extends ProcReading {
  /** performance.now() of the reading. */
  readonly t: number;
  readonly threads?: ThreadTimes;
}

export interface ThreadSummary {
  /** Thread name as the kernel has it (at most 15 characters). */
  readonly name: string;
  /** Average over the window, 100 = one core busy. */
  readonly cpuPercent: number;
  /** The part of `cpuPercent` spent in the kernel (system calls, and network work done in them). */
  readonly systemPercent: number;
  /** Voluntary context switches per second over the window. */
  readonly sleepsPerSecond: number;
  /** Involuntary context switches per second over the window. */
  readonly preemptionsPerSecond: number;
  /** Read and write system calls, and bytes towards the disk, per second, when they were read. */
  readonly io?: IoUse;
}

export interface WindowSummary {
  /** Average over the window, 100 = one core busy. */
  readonly cpuPercent: number;
  /** Highest 250 ms CPU % in the window. */
  readonly peakCpuPercent: number;
  readonly peakRssBytes: number;
  readonly samples: number;
  /** MACHINE only: context switches per second over the window (all CPUs). */
  readonly switchesPerSecond?: number;
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

/** The number after `name:` in a /proc status or io file (kB for the memory lines); 0 when absent. */
function statusNumber(status: string, name: string): number {
  const match = new RegExp(`^${name}:\\s+(\\d+)`, 'm').exec(status);
  return match ? Number(match[1]) : 0;
}

/** A thread's I/O counters, or undefined when /proc does not give them (or it ended). */
function readIo(pid: number, tid: string): IoUse | undefined {
  try {
    const io = readFileSync(`/proc/${pid}/task/${tid}/io`, 'latin1');
    return {
      reads: statusNumber(io, 'syscr'),
      writes: statusNumber(io, 'syscw'),
      diskBytes: statusNumber(io, 'write_bytes'),
    };
  } catch {
    return undefined;
  }
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
      rssBytes: statusNumber(status, 'VmRSS') * 1024,
      hwmBytes: statusNumber(status, 'VmHWM') * 1024,
    };
  } catch {
    return undefined;
  }
}

/**
 * CPU time, context switches and I/O counters of every thread of `pid`, summed by
 * thread name; undefined when the process is gone. A thread that ends between two
 * readings takes its counts with it.
 */
export function readThreads(pid: number): ThreadTimes | undefined {
  let tids: string[];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return undefined;
  }
  const times = new Map<string, Mutable<ThreadUse>>();
  const perTick = 1 / ticksPerSecond();
  for (const tid of tids) {
    let stat: string;
    let status: string;
    try {
      stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'latin1');
      status = readFileSync(`/proc/${pid}/task/${tid}/status`, 'latin1');
    } catch {
      continue; // the thread ended
    }
    const close = stat.lastIndexOf(')');
    const name = stat.slice(stat.indexOf('(') + 1, close);
    const fields = stat.slice(close + 2).split(' ');
    const use = {
      user: Number(fields[11]) * perTick,
      system: Number(fields[12]) * perTick,
      sleeps: statusNumber(status, 'voluntary_ctxt_switches'),
      preemptions: statusNumber(status, 'nonvoluntary_ctxt_switches'),
      io: readIo(pid, tid),
    };
    const entry = times.get(name);
    if (entry === undefined) {
      times.set(name, use);
      continue;
    }
    entry.user += use.user;
    entry.system += use.system;
    entry.sleeps += use.sleeps;
    entry.preemptions += use.preemptions;
    // A name's I/O counts only when every thread of it could be read.
    entry.io = entry.io !== undefined && use.io !== undefined ? addIo(entry.io, use.io, 1) : undefined;
  }
  return times;
}

/** `a + sign * b`, counter by counter. */
export function addIo(a: IoUse, b: IoUse, sign: 1 | -1): IoUse {
  return {
    reads: a.reads + sign * b.reads,
    writes: a.writes + sign * b.writes,
    diskBytes: a.diskBytes + sign * b.diskBytes,
  };
}

/**
 * Busy CPU time of the whole machine (all cores, everything but idle and iowait) and
 * its context switches so far, as a reading.
 */
export function readMachine(): ProcReading | undefined {
  try {
    const stat = readFileSync('/proc/stat', 'latin1');
    const line = stat.split('\n', 1)[0] ?? '';
    const ticks = line.trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal (guest time is already in user).
    const busy = ticks.slice(0, 8).reduce((sum, v, i) => (i === 3 || i === 4 ? sum : sum + (v || 0)), 0);
    const switches = /^ctxt (\d+)$/m.exec(stat);
    return {
      cpuSeconds: busy / ticksPerSecond(),
      rssBytes: 0,
      hwmBytes: 0,
      ...(switches ? { switches: Number(switches[1]) } : {}),
    };
  } catch {
    return undefined;
  }
}

const NOTHING_USED: ThreadUse = {
  user: 0,
  system: 0,
  sleeps: 0,
  preemptions: 0,
  io: NO_IO,
};

/** Pid under which `watch` samples the whole machine. */
export const MACHINE = -1;

export class ProcSampler {
  #pids = new Map<string, number>();
  #withThreads = new Set<string>();
  #samples = new Map<string, Sample[]>();
  #timer: NodeJS.Timeout | undefined;
  #intervalMs: number;
  /** Bound on stored samples per process (about 2 hours at 250 ms). */
  #maxSamples = 30_000;

  constructor(intervalMs = 250) {
    this.#intervalMs = intervalMs;
  }

  /**
   * Starts (or restarts, after a process was replaced) sampling `pid` under `name`;
   * with `threads`, its threads too.
   */
  watch(name: string, pid: number, options: { threads?: boolean } = {}): void {
    this.#pids.set(name, pid);
    if (options.threads) this.#withThreads.add(name);
    else this.#withThreads.delete(name);
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
      const threads = this.#withThreads.has(name) ? readThreads(pid) : undefined;
      list.push(threads === undefined ? { t, ...reading } : { t, ...reading, threads });
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
    const first = inside[0];
    const last = inside[inside.length - 1];
    const switchSpan = first !== undefined && last !== undefined && last.t > first.t ? last.t - first.t : 0;
    const switches =
      switchSpan > 0 && first?.switches !== undefined && last?.switches !== undefined
        ? ((last.switches - first.switches) / switchSpan) * 1000
        : undefined;
    return {
      cpuPercent: wall > 0 ? (busy / wall) * 100 : 0,
      peakCpuPercent: peakCpu,
      peakRssBytes: peakRss,
      samples: inside.length,
      ...(switches !== undefined && switches >= 0 ? { switchesPerSecond: switches } : {}),
    };
  }

  /**
   * CPU of `name`'s threads between two performance.now() times, by thread name,
   * busiest first: the difference between the first and the last reading in the span.
   * A name whose time went down (its thread was replaced) is left out.
   */
  threadWindow(name: string, from: number, to: number): ThreadSummary[] {
    const inside = this.samples(name).filter(
      (s) => s.threads !== undefined && s.t >= from - this.#intervalMs && s.t <= to + 1,
    );
    const first = inside[0];
    const last = inside[inside.length - 1];
    if (first === undefined || last === undefined || last.t <= first.t) return [];
    const wall = (last.t - first.t) / 1000;
    const out: ThreadSummary[] = [];
    for (const [thread, end] of last.threads!) {
      // A thread that began inside the span counts from nothing.
      const start = first.threads!.get(thread) ?? NOTHING_USED;
      const user = end.user - start.user;
      const system = end.system - start.system;
      const sleeps = end.sleeps - start.sleeps;
      const preemptions = end.preemptions - start.preemptions;
      if (user < 0 || system < 0 || sleeps < 0 || preemptions < 0) continue;
      const io = end.io !== undefined && start.io !== undefined ? addIo(end.io, start.io, -1) : undefined;
      const ioValid = io !== undefined && io.reads >= 0 && io.writes >= 0 && io.diskBytes >= 0;
      out.push({
        name: thread,
        cpuPercent: ((user + system) / wall) * 100,
        systemPercent: (system / wall) * 100,
        sleepsPerSecond: sleeps / wall,
        preemptionsPerSecond: preemptions / wall,
        ...(ioValid
          ? { io: { reads: io.reads / wall, writes: io.writes / wall, diskBytes: io.diskBytes / wall } }
          : {}),
      });
    }
    return out.sort((a, b) => b.cpuPercent - a.cpuPercent);
  }
}
