import { execFile } from "node:child_process";
import { readFileSync, statSync } from "node:fs";
import { promisify } from "node:util";
import type { Host } from "../functions/lib/host.ts";

const execFileAsync = promisify(execFile);

let bootTimeMs: number | null = null;
let clockTicks: number | null = null;

/** Linux: boot time from /proc/stat and the kernel clock tick rate, read once. */
async function linuxTimes(): Promise<{ boot: number; hz: number }> {
  if (bootTimeMs === null) {
    const stat = readFileSync("/proc/stat", "utf8");
    const m = /^btime (\d+)$/m.exec(stat);
    if (!m) throw new Error("no btime line in /proc/stat");
    bootTimeMs = Number(m[1]) * 1000;
  }
  if (clockTicks === null) {
    try {
      const { stdout } = await execFileAsync("getconf", ["CLK_TCK"]);
      clockTicks = Number(stdout.trim()) || 100;
    } catch {
      clockTicks = 100;
    }
  }
  return { boot: bootTimeMs, hz: clockTicks };
}

/** Start time of a pid in ms since the epoch (Linux /proc, else `ps -o lstart=`), or null. */
export async function pidStartTime(pid: number): Promise<number | null> {
  if (!Number.isInteger(pid) || pid <= 0) return null;
  if (process.platform === "linux") {
    let stat: string;
    try {
      stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    } catch {
      return null;
    }
    // The command name may contain spaces and parentheses; fields resume after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const startTicks = Number(fields[19]);
    if (!Number.isFinite(startTicks)) return null;
    const { boot, hz } = await linuxTimes();
    return boot + Math.round((startTicks * 1000) / hz);
  }
  try {
    const { stdout } = await execFileAsync("ps", ["-o", "lstart=", "-p", String(pid)]);
    const t = Date.parse(stdout.trim());
    return Number.isFinite(t) ? t : null;
  } catch {
    return null;
  }
}

/** The Node implementation of the host capabilities. */
export class NodeHost implements Host {
  async fileExists(path: string): Promise<boolean> {
    try {
      return statSync(path).isFile();
    } catch {
      return false;
    }
  }

  async pidStartTime(pid: number): Promise<number | null> {
    return pidStartTime(pid);
  }

  async pidAlive(pid: number, startedAt?: number | null): Promise<boolean> {
    const now = await pidStartTime(pid);
    if (now === null) return false;
    // A recycled pid has a different start time; allow clock-tick rounding.
    return startedAt == null || Math.abs(now - startedAt) < 2000;
  }
}
