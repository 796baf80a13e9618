import { execFile } from "node:child_process";
import { readdir, readFile, rename, stat, writeFile } from "node:fs/promises";
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
  /** The executable's name, cut by the kernel to 15 bytes. */
  comm: string;
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

/** Where start times count from: the boot time in ms since the epoch, and the clock tick rate. */
export type BootClock = () => Promise<{ boot: number; hz: number }>;

/**
 * A boot time pinned for the whole boot in `file`, so that every process that shares the file
 * turns a process's start (kernel ticks since boot) into the same wall-clock time. The kernel's
 * own boot time (`btime`) is the wall clock now minus the time since boot, so it moves whenever
 * the clock is stepped (NTP, a VM resumed): a start time recorded before a 9-second step no
 * longer matched the same live process after it, and every registered session read as dead.
 * The first process of a boot writes the file (boot id and boot time; write then rename); the
 * others, and later runs, read it. An unreadable or unwritable file falls back to the kernel's.
 */
export function pinnedBootClock(file: string): BootClock {
  let pinned: Promise<{ boot: number; hz: number }> | null = null;
  return () => {
    pinned ??= (async () => {
      const now = await linuxTimes();
      let bootId: string;
      try {
        bootId = (await readFile("/proc/sys/kernel/random/boot_id", "utf8")).trim();
      } catch {
        return now;
      }
      const read = async () => {
        try {
          const r = JSON.parse(await readFile(file, "utf8")) as { boot_id?: unknown; boot_ms?: unknown };
          return r.boot_id === bootId && Number.isSafeInteger(r.boot_ms) ? (r.boot_ms as number) : null;
        } catch {
          return null;
        }
      };
      const recorded = await read();
      if (recorded !== null) return { boot: recorded, hz: now.hz };
      try {
        const tmp = `${file}.${process.pid}.tmp`;
        await writeFile(tmp, `${JSON.stringify({ boot_id: bootId, boot_ms: now.boot })}\n`, { mode: 0o600 });
        await rename(tmp, file);
      } catch {
        return now;
      }
      // Two first processes race to write; the file holds one of them, and both use it.
      return { boot: (await read()) ?? now.boot, hz: now.hz };
    })();
    return pinned;
  };
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
  const comm = text.slice(text.indexOf(" (") + 2, close);
  return { pid, comm, state: f[0], ppid: ppid!, pgrp: pgrp!, session: session!, tty: ttyNr !== 0, tpgid: tpgid!, startTicks: startTicks! };
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
export async function pidStartTime(pid: number, clock: BootClock = linuxTimes): Promise<number | null> {
  if (!Number.isInteger(pid) || pid <= 0) return null;
  if (process.platform !== "linux") return psStartTime(pid);
  const st = await readLinuxStat(pid);
  if (!st || st.state === "Z" || st.state === "X") return null;
  const { boot, hz } = await clock();
  return boot + Math.round((st.startTicks * 1000) / hz);
}

/** A process as the keyboard check sees it: its group, its terminal's foreground group, its name. */
export interface TerminalProc {
  pid: number;
  ppid: number;
  pgrp: number;
  /** The foreground process group of its controlling terminal; -1 or 0 with no terminal. */
  tpgid: number;
  /** One-letter state; T (stopped, as by C-z) and t (stopped under a tracer) read nothing. */
  state: string;
  /** Executable name (no directory), as the kernel or ps reports it. */
  comm: string;
  tty: boolean;
}

/**
 * Shells by executable name, and programs that hand the terminal to another shell (a pty
 * wrapper, a nested multiplexer, a remote or privileged login): with only these in the
 * foreground, typed text is a shell command. The check cannot know every such program; a
 * session registered with its agent's own --pid does not depend on this list.
 */
const SHELLS = new Set([
  "bash",
  "rbash",
  "zsh",
  "fish",
  "sh",
  "dash",
  "ksh",
  "ksh93",
  "mksh",
  "yash",
  "ash",
  "tcsh",
  "csh",
  "nu",
  "xonsh",
  "elvish",
  "pwsh",
  "busybox",
  "script",
  "tmux",
  "tmux: client",
  "screen",
  "ssh",
  "mosh-client",
  "su",
  "sudo",
  "login",
]);

const isStopped = (p: { state: string }) => p.state === "T" || p.state === "t";
const stoppedReason = (pid: number) => `the agent (pid ${pid}) is stopped (suspended, as by C-z); typed text would go to its shell`;
const goneReason = (pid: number) => `the agent (pid ${pid}) is no longer running`;

/**
 * Why keys typed into the terminal of the registered agent `pid` would not reach the agent, or
 * null when they would. `pid` is the agent, or the shell of its pane it was started from (a
 * pane registered without a pid records the pane's). Keys go to the terminal's foreground
 * process group, so that group must hold `pid` or a process under it, none of them stopped,
 * and not only shells: a person's C-z in the pane stops the agent's job and its shell takes the
 * terminal back (the shell alone in the foreground, or, for an agent registered by its own
 * pid, a group outside it), and an agent that exited leaves the shell there too. A process with
 * no controlling terminal tells nothing either way: null.
 */
export function keyboardVerdict(table: TerminalProc[], pid: number): string | null {
  const self = table.find((p) => p.pid === pid);
  if (!self || self.state === "Z" || self.state === "X") return goneReason(pid);
  if (isStopped(self)) return stoppedReason(pid);
  if (!self.tty || self.tpgid <= 0) return null;
  const mine = new Set(withDescendants(table, [pid]));
  const stoppedBelow = table.find((p) => mine.has(p.pid) && isStopped(p));
  const front = table.filter((p) => p.pgrp === self.tpgid && mine.has(p.pid));
  // What reads the keys is what runs in the foreground group: a stopped child of a running
  // agent there (a tool that hit SIGTTIN) takes nothing from the agent.
  const running = front.filter((p) => !isStopped(p));
  if (!running.length) {
    if (front.length) return stoppedReason(front[0]!.pid);
    if (stoppedBelow) return stoppedReason(stoppedBelow.pid);
    return `the agent (pid ${pid}) is not in the foreground of its terminal (process group ${self.tpgid} is); typed text would go to that program`;
  }
  if (running.every((p) => SHELLS.has(p.comm))) {
    if (stoppedBelow) return stoppedReason(stoppedBelow.pid);
    return `the terminal's foreground is the shell ${running[0]!.comm} (pid ${running[0]!.pid}) at its prompt, not an agent (has the agent exited?); typed text would be a shell command`;
  }
  return null;
}

/** keyboardVerdict for `pid` on this machine, from /proc (Linux) or ps. */
export async function keyboardBlocker(pid: number): Promise<string | null> {
  if (process.platform !== "linux") return keyboardVerdict(await terminalTablePs(), pid);
  const st = await readLinuxStat(pid);
  if (!st) return goneReason(pid);
  const self = terminalProc(st);
  // An agent registered by its own pid, in the foreground, needs no table.
  if (!isStopped(self) && self.state !== "Z" && self.state !== "X" && (!self.tty || self.tpgid === self.pgrp) && !SHELLS.has(self.comm)) return null;
  return keyboardVerdict(await terminalTableLinux(), pid);
}

/** Every process from /proc with what keyboardVerdict reads. */
async function terminalTableLinux(): Promise<TerminalProc[]> {
  const names = (await readdir("/proc")).filter((n) => /^\d+$/.test(n));
  const rows = await Promise.all(names.map((n) => readLinuxStat(Number(n))));
  return rows.filter((r) => r !== null).map(terminalProc);
}

/** A /proc stat as keyboardVerdict reads it (Linux always knows the group). */
function terminalProc(st: LinuxStat): TerminalProc {
  return { pid: st.pid, ppid: st.ppid, pgrp: st.pgrp ?? -1, tpgid: st.tpgid, state: st.state, comm: st.comm, tty: st.tty };
}

/** Every process from `ps` (BSD and procps both know `tpgid`) with what keyboardVerdict reads. */
async function terminalTablePs(): Promise<TerminalProc[]> {
  const { stdout } = await execFileAsync("ps", ["-A", "-o", "pid=,ppid=,pgid=,tpgid=,stat=,tty=,comm="], { maxBuffer: 16 * 1024 * 1024 });
  const rows: TerminalProc[] = [];
  for (const line of stdout.split("\n")) {
    const m = /^\s*(\d+)\s+(\d+)\s+(\d+)\s+(-?\d+)\s+(\S+)\s+(\S+)\s+(.+?)\s*$/.exec(line);
    if (!m) continue;
    const comm = m[7]!.split("/").at(-1)!.replace(/^-/, "");
    rows.push({ pid: Number(m[1]), ppid: Number(m[2]), pgrp: Number(m[3]), tpgid: Number(m[4]), state: m[5]![0]!, tty: !/^\?+$/.test(m[6]!), comm });
  }
  return rows;
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
export function withDescendants(table: ReadonlyArray<{ pid: number; ppid: number }>, roots: Iterable<number>): number[] {
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
