/**
 * Resident memory of processes from `/proc` (Linux): current RSS (`VmRSS`) and peak RSS
 * (`VmHWM`, the high-water mark since the process started), plus finding the process that
 * listens on a TCP port.
 *
 * @module
 */

/** Memory of one process, in MiB. */
export interface ProcessMemory {
  /** Current resident set size, MiB. */
  rssMb: number;
  /** Peak resident set size since start, MiB. */
  peakRssMb: number;
}

/**
 * Read `VmRSS` and `VmHWM` of a process.
 *
 * @param pid The process id.
 * @returns Current and peak RSS in MiB, or `null` when the process is gone or `/proc` is absent.
 */
export function readMemory(pid: number): ProcessMemory | null {
  let text: string;
  try {
    text = Deno.readTextFileSync(`/proc/${pid}/status`);
  } catch {
    return null;
  }
  const kb = (field: string): number => {
    const m = text.match(new RegExp(`^${field}:\\s+(\\d+)\\s+kB`, "m"));
    return m?.[1] ? Number(m[1]) : NaN;
  };
  return { rssMb: _mb(kb("VmRSS")), peakRssMb: _mb(kb("VmHWM")) };
}

function _mb(kb: number): number {
  return Math.round((kb / 1024) * 10) / 10;
}

/**
 * The id of the process listening on `127.0.0.1:port` (or any address), found through
 * `/proc/net/tcp*` socket inodes and `/proc/<pid>/fd` links.
 *
 * @param port The TCP port.
 * @returns The pid, or `null` when no process of ours listens there.
 */
export function pidListeningOn(port: number): number | null {
  const inodes = new Set<string>();
  for (const file of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    let text = "";
    try {
      text = Deno.readTextFileSync(file);
    } catch {
      continue;
    }
    for (const line of text.split("\n").slice(1)) {
      const cols = line.trim().split(/\s+/);
      const local = cols[1];
      const state = cols[3];
      const inode = cols[9];
      if (!local || !inode || state !== "0A") continue; // 0A = LISTEN
      const hexPort = local.split(":")[1];
      if (hexPort && parseInt(hexPort, 16) === port) inodes.add(inode);
    }
  }
  if (inodes.size === 0) return null;
  for (const proc of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(proc.name)) continue;
    try {
      for (const fd of Deno.readDirSync(`/proc/${proc.name}/fd`)) {
        const link = Deno.readLinkSync(`/proc/${proc.name}/fd/${fd.name}`);
        const m = link.match(/^socket:\[(\d+)\]$/);
        if (m?.[1] && inodes.has(m[1])) return Number(proc.name);
      }
    } catch { /* not ours or gone */ }
  }
  return null;
}

/** Samples a process's RSS at an interval and keeps the largest value seen. */
export class RssSampler {
  readonly #pid: number;
  #maxMb = 0;
  #timer: ReturnType<typeof setInterval> | undefined;

  /**
   * Start sampling.
   *
   * @param pid The process id.
   * @param intervalMs Sampling interval.
   */
  constructor(pid: number, intervalMs = 100) {
    this.#pid = pid;
    this.#sample();
    this.#timer = setInterval(() => this.#sample(), intervalMs);
  }

  /**
   * Stop sampling.
   *
   * @returns The peak: the larger of the sampled maximum and the kernel's `VmHWM`, MiB.
   */
  stop(): number {
    clearInterval(this.#timer);
    this.#sample();
    return this.#maxMb;
  }

  #sample(): void {
    const mem = readMemory(this.#pid);
    if (!mem) return;
    this.#maxMb = Math.max(
      this.#maxMb,
      Number.isFinite(mem.rssMb) ? mem.rssMb : 0,
      Number.isFinite(mem.peakRssMb) ? mem.peakRssMb : 0,
    );
  }
}

/**
 * CPU time a process has used so far (user + system), from `/proc/<pid>/stat`.
 *
 * @param pid The process id.
 * @returns Milliseconds of CPU, or `null` when the process is gone.
 */
export function readCpuMs(pid: number): number | null {
  let text: string;
  try {
    text = Deno.readTextFileSync(`/proc/${pid}/stat`);
  } catch {
    return null;
  }
  // Fields after the ")" that closes the command name: state is field 3, utime 14, stime 15.
  const rest = text.slice(text.lastIndexOf(")") + 2).split(" ");
  const utime = Number(rest[11]);
  const stime = Number(rest[12]);
  return ((utime + stime) * 1000) / _CLK_TCK;
}

/** Clock ticks per second of `/proc/<pid>/stat` (USER_HZ, 100 on Linux). */
const _CLK_TCK = 100;

/** CPU used by a set of processes between two points in time. */
export class CpuMeter {
  readonly #start = new Map<string, number>();
  readonly #pids: ReadonlyMap<string, readonly number[]>;

  /**
   * Start measuring.
   *
   * @param pids Named groups of pids (e.g. `{ gateway: [123], workers: [124, 125] }`).
   */
  constructor(pids: Record<string, readonly (number | null)[]>) {
    const map = new Map<string, number[]>();
    for (const [name, list] of Object.entries(pids)) {
      map.set(name, list.filter((p): p is number => p !== null));
    }
    this.#pids = map;
    for (const name of map.keys()) this.#start.set(name, this.#total(name));
  }

  /**
   * CPU milliseconds used by each group since the start, divided by `per`.
   *
   * @param per Divide by this (e.g. the number of runs) — 1 for totals.
   * @returns Milliseconds per group, rounded to 0.001.
   */
  read(per = 1): Record<string, number> {
    const out: Record<string, number> = {};
    for (const name of this.#pids.keys()) {
      const used = this.#total(name) - (this.#start.get(name) ?? 0);
      out[name] = Math.round((used / per) * 1000) / 1000;
    }
    return out;
  }

  #total(name: string): number {
    let sum = 0;
    for (const pid of this.#pids.get(name) ?? []) sum += readCpuMs(pid) ?? 0;
    return sum;
  }
}
