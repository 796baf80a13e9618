import { execFile } from "node:child_process";
import { readdir, readFile, stat } from "node:fs/promises";
import { promisify } from "node:util";
import { HostError } from "../../functions/lib/host.ts";

const execFileAsync = promisify(execFile);

/** One process as the kernel reports it. `pgrp` and `session` are known on Linux only. */
export interface ProcInfo {
  pid: number;
  ppid: number;
  pgrp: number | null;
  session: number | null;
  /** One-letter state (R, S, D, Z, …); Z is a zombie that has exited but not been reaped. */
  state: string;
  /** Owner; null when it could not be read. */
  uid: number | null;
  /** Whether it has a controlling terminal; daemons have none. */
  tty: boolean;
}

/** Linux /proc/<pid>/stat fields we use; start time is in clock ticks since boot. */
interface LinuxStat extends Omit<ProcInfo, "uid"> {
  startTicks: number;
  /** The process group in the foreground of its controlling terminal (-1 with no terminal). */
  tpgid: number;
}

let linuxClock: Promise<{ boot: number; hz: number }> | null = null;

/** Linux: boot time from /proc/stat and the kernel clock tick rate, read once per process. */
function linuxTimes(): Promise<{ boot: number; hz: number }> {
  linuxClock ??= (async () => {
    const m = /^btime (\d+)$/m.exec(await readFile("/proc/stat", "utf8"));
    if (!m) throw new HostError("COMMAND_FAILED", "cannot read boot time: no btime line in /proc/stat");
    let hz = 100;
    try {
      hz = Number((await execFileAsync("getconf", ["CLK_TCK"])).stdout.trim()) || 100;
    } catch {
      // getconf is absent on minimal images; 100 Hz is the Linux USER_HZ on every mainstream arch.
    }
    return { boot: Number(m[1]) * 1000, hz };
  })();
  return linuxClock;
}

/** Parses the text of /proc/<pid>/stat; null when it is malformed. */
export function parseProcStat(text: string): LinuxStat | null {
  // The command name may contain spaces and parentheses; fields resume after the last ')'.
  const close = text.lastIndexOf(")");
  const pid = Number(text.slice(0, text.indexOf(" (")));
  const f = text.slice(close + 2).split(" ");
  // f[0] is field 3 (state); ppid, pgrp, session, tty_nr, tpgid are fields 4-8, starttime is field 22.
  const [ppid, pgrp, session, ttyNr, tpgid, startTicks] = [f[1], f[2], f[3], f[4], f[5], f[19]].map(Number);
  if (close < 0 || !Number.isInteger(pid) || !f[0] || ![ppid, pgrp, session, ttyNr, tpgid, startTicks].every(Number.isFinite)) return null;
  return { pid, state: f[0], ppid: ppid!, pgrp: pgrp!, session: session!, tty: ttyNr !== 0, tpgid: tpgid!, startTicks: startTicks! };
}

async function readLinuxStat(pid: number): Promise<LinuxStat | null> {
  try {
    return parseProcStat(await readFile(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return null;
  }
}

/** Start time from `ps` (non-Linux); null when absent or a zombie. Resolution is one second. */
export async function psStartTime(pid: number): Promise<number | null> {
  try {
    const { stdout } = await execFileAsync("ps", ["-o", "stat=", "-o", "lstart=", "-p", String(pid)]);
    const m = /^\s*(\S+)\s+(.+?)\s*$/.exec(stdout);
    if (!m || m[1]!.startsWith("Z")) return null;
    const t = Date.parse(m[2]!);
    return Number.isFinite(t) ? t : null;
  } catch {
    // ps exits 1 when the pid does not exist.
    return null;
  }
}

/**
 * Start time of a pid in ms since the epoch, or null when it is not running. Zombies count as
 * not running: they have exited and only wait for their parent to reap them.
 */
export async function pidStartTime(pid: number): Promise<number | null> {
  if (!Number.isInteger(pid) || pid <= 0) return null;
  if (process.platform !== "linux") return psStartTime(pid);
  const st = await readLinuxStat(pid);
  if (!st || st.state === "Z" || st.state === "X") return null;
  const { boot, hz } = await linuxTimes();
  return boot + Math.round((st.startTicks * 1000) / hz);
}

/**
 * Why keys typed into the terminal of a running `pid` would not reach it, or null when they
 * would. A stopped process (C-z, SIGSTOP) reads nothing, and once its job stops the shell it
 * was started from takes the terminal back; a process whose group is not the terminal's
 * foreground group is not the one reading it either. A process with no controlling terminal
 * tells nothing either way: null.
 */
export async function keyboardBlocker(pid: number): Promise<string | null> {
  if (process.platform !== "linux") return psKeyboardBlocker(pid);
  const st = await readLinuxStat(pid);
  if (!st) return `the agent (pid ${pid}) is no longer running`;
  return blockerOf(pid, st.state, st.tty ? st.pgrp : null, st.tpgid);
}

/** keyboardBlocker from a process's state, its group (null without a terminal) and its terminal's foreground group. */
function blockerOf(pid: number, state: string, pgrp: number | null, tpgid: number): string | null {
  if (state === "Z" || state === "X") return `the agent (pid ${pid}) is no longer running`;
  if (state === "T" || state === "t") return `the agent (pid ${pid}) is stopped (suspended, as by C-z); typed text would go to its shell`;
  if (pgrp !== null && tpgid > 0 && tpgid !== pgrp) {
    return `the agent (pid ${pid}) is not in the foreground of its terminal (process group ${tpgid} is); typed text would go to that program`;
  }
  return null;
}

/** keyboardBlocker from `ps` (non-Linux: BSD and procps both know `tpgid`). */
async function psKeyboardBlocker(pid: number): Promise<string | null> {
  try {
    const { stdout } = await execFileAsync("ps", ["-o", "stat=", "-o", "pgid=", "-o", "tpgid=", "-o", "tty=", "-p", String(pid)]);
    const m = /^\s*(\S+)\s+(-?\d+)\s+(-?\d+)\s+(\S+)\s*$/.exec(stdout);
    if (!m) return `the agent (pid ${pid}) is no longer running`;
    return blockerOf(pid, m[1]![0]!, /^\?+$/.test(m[4]!) ? null : Number(m[2]), Number(m[3]));
  } catch {
    // ps exits 1 when the pid does not exist.
    return `the agent (pid ${pid}) is no longer running`;
  }
}

/** Every process from /proc (Linux), with session, process group, owner and terminal. */
export async function procTableLinux(): Promise<ProcInfo[]> {
  const names = (await readdir("/proc")).filter((n) => /^\d+$/.test(n));
  const rows = await Promise.all(
    names.map(async (n): Promise<ProcInfo | null> => {
      const [st, owner] = await Promise.all([readLinuxStat(Number(n)), stat(`/proc/${n}`).catch(() => null)]);
      if (!st) return null;
      const { pid, ppid, pgrp, session, state, tty } = st;
      return { pid, ppid, pgrp, session, state, tty, uid: owner?.uid ?? null };
    }),
  );
  return rows.filter((r) => r !== null);
}

/** Every process from `ps -A` (portable; no session or group information). */
export async function procTablePs(): Promise<ProcInfo[]> {
  const { stdout } = await execFileAsync("ps", ["-A", "-o", "pid=,ppid=,uid=,tty="], { maxBuffer: 16 * 1024 * 1024 });
  const rows: ProcInfo[] = [];
  for (const line of stdout.split("\n")) {
    const m = /^\s*(\d+)\s+(\d+)\s+(\d+)\s+(\S+)\s*$/.exec(line);
    // ps shows "?" (procps) or "??" (BSD) for a process without a terminal.
    if (m) rows.push({ pid: Number(m[1]), ppid: Number(m[2]), pgrp: null, session: null, state: "?", uid: Number(m[3]), tty: !/^\?+$/.test(m[4]!) });
  }
  return rows;
}

/** The process table for this platform; COMMAND_FAILED when it cannot be read. */
export async function procTable(): Promise<ProcInfo[]> {
  try {
    return await (process.platform === "linux" ? procTableLinux() : procTablePs());
  } catch (e) {
    throw new HostError("COMMAND_FAILED", `cannot list processes: ${(e as Error).message}`);
  }
}

/**
 * The pid and its ancestors by parent pid, the pid first, up to (not including) pid 0; [] when
 * it is not running. Linux reads /proc; elsewhere `ps -o ppid=` once per step.
 */
export async function ancestry(pid: number): Promise<number[]> {
  const out: number[] = [];
  for (let cur = pid; Number.isInteger(cur) && cur > 0 && !out.includes(cur) && out.length < 256; ) {
    let ppid: number | null;
    if (process.platform === "linux") {
      const st = await readLinuxStat(cur);
      if (!st || st.state === "Z" || st.state === "X") break;
      ppid = st.ppid;
    } else {
      try {
        const { stdout } = await execFileAsync("ps", ["-o", "ppid=", "-p", String(cur)]);
        ppid = Number(stdout.trim());
        if (!Number.isInteger(ppid)) break;
      } catch {
        break;
      }
    }
    out.push(cur);
    cur = ppid;
  }
  return out;
}

/** `roots` and every process below them in the ppid tree, roots first, breadth-first. */
export function withDescendants(table: ProcInfo[], roots: Iterable<number>): number[] {
  const children = new Map<number, number[]>();
  for (const p of table) {
    const list = children.get(p.ppid);
    if (list) list.push(p.pid);
    else children.set(p.ppid, [p.pid]);
  }
  const seen = new Set<number>();
  const queue = [...roots];
  for (let i = 0; i < queue.length; i++) {
    const pid = queue[i]!;
    if (seen.has(pid)) continue;
    seen.add(pid);
    queue.push(...(children.get(pid) ?? []));
  }
  return [...seen];
}

/**
 * Linux: selected variables of a process's environment as it was at exec, or null when it is
 * unreadable (another user's process, or gone).
 */
export async function readEnviron(pid: number, keys: string[]): Promise<Record<string, string> | null> {
  let raw: string;
  try {
    raw = await readFile(`/proc/${pid}/environ`, "utf8");
  } catch {
    return null;
  }
  const out: Record<string, string> = {};
  for (const entry of raw.split("\0")) {
    const eq = entry.indexOf("=");
    const k = entry.slice(0, eq);
    if (eq > 0 && keys.includes(k)) out[k] = entry.slice(eq + 1);
  }
  return out;
}
