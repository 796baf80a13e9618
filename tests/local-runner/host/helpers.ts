import { execFile, spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { pidStartTime } from "../../../local-runner/host/procs.ts";

const execFileAsync = promisify(execFile);

/**
 * The kernel's clock, read from the mtime of a file written now. File and process timestamps
 * come from the kernel while Date.now() may be shifted (faketime in CI's date-shifted run), so
 * a test that makes or checks such timestamps measures from this instead of Date.now().
 */
export function kernelNow(): number {
  const dir = mkdtempSync(join(tmpdir(), "swy-clock-"));
  try {
    const p = join(dir, "now");
    writeFileSync(p, "");
    return statSync(p).mtimeMs;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The process-tree fixture script. */
export const HOLDER = fileURLToPath(new URL("./fixtures/holder.mjs", import.meta.url));

/** Polls `fn` until it returns a non-null, non-false value, or fails after `ms`. */
export async function waitFor<T>(fn: () => T | Promise<T>, what: string, ms = 10_000): Promise<Exclude<T, null | false | undefined>> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v !== null && v !== false && v !== undefined) return v as Exclude<T, null | false | undefined>;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * Tracks everything a test starts (tmux sessions by exact name, pids with their start time,
 * temp dirs) so `cleanup` removes exactly those and nothing else.
 */
export class Resources {
  private sessions = new Set<string>();
  private pids = new Map<number, number | null>();
  private dirs: string[] = [];
  /** Prefix unique to this worker so parallel test files never share a session name. */
  readonly prefix = `swy-host-${process.pid}-`;

  tmpDir(): string {
    const d = mkdtempSync(join(tmpdir(), "swy-host-"));
    this.dirs.push(d);
    return d;
  }

  session(name: string): string {
    const full = this.prefix + name;
    this.sessions.add(full);
    return full;
  }

  async trackPid(pid: number): Promise<number> {
    this.pids.set(pid, await pidStartTime(pid));
    return pid;
  }

  /** Spawns a fixture as a session leader (like a tmux pane) without tmux in its environment. */
  async spawnHolder(mode: string, ...paths: string[]): Promise<ChildProcess> {
    const env = { ...process.env };
    delete env.TMUX;
    delete env.TMUX_PANE;
    const child = spawn(process.execPath, [HOLDER, mode, ...paths], { stdio: "ignore", detached: true, env });
    child.unref();
    await this.trackPid(child.pid!);
    return child;
  }

  /** Waits for the fixture holding `path` to report its pid, and tracks it. */
  async holderPid(path: string): Promise<number> {
    const pid = await waitFor(() => existsSync(`${path}.ready`) && Number(readFileSync(`${path}.ready`, "utf8")), `holder of ${path}`);
    return this.trackPid(pid);
  }

  async cleanup(): Promise<void> {
    for (const name of this.sessions) {
      await execFileAsync("tmux", ["kill-session", "-t", `=${name}`]).catch(() => undefined);
    }
    this.sessions.clear();
    for (const [pid, started] of this.pids) {
      // Only a pid that still has the start time we recorded is ours to kill.
      if (started !== null && (await pidStartTime(pid)) === started) {
        try {
          process.kill(pid, "SIGKILL");
        } catch {
          // Exited between the check and the kill.
        }
      }
    }
    this.pids.clear();
    for (const d of this.dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  }
}
