import { readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";

// `switchyard up` writes where it listens into its home, so commands that hand a URL to
// something outliving them (the hooks an agent runs, its MCP entry) can name that server even
// when it runs on another port than the default and nobody passed --url.

/** What a running `switchyard up` recorded about itself. */
export interface UpRecord {
  url: string;
  pid: number;
  /**
   * The file database it serves (absent for a remote one) and the host name it runs as: a read
   * command without --url answers through this server only when it would open the same
   * database as the same host in-process (fast.ts), so the answer is the same either way.
   */
  db?: string;
  host?: string;
  /**
   * Which process the pid was when the record was written (Linux: boot id and start time), so a
   * pid the kernel handed to another process after `up` died is not taken for it.
   */
  started?: string;
}

/**
 * An identity of a live process that a reused pid does not share: the boot's id and the
 * process's start time in clock ticks (field 22 of /proc/<pid>/stat). Null where there is no
 * /proc (macOS) or the process is gone. Two small file reads, cheap enough for every CLI call.
 */
export function processStartMark(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "latin1");
    // The command name (field 2) is in parentheses and may hold spaces or parentheses itself.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const startTicks = fields[19];
    const boot = readFileSync("/proc/sys/kernel/random/boot_id", "latin1").trim();
    return startTicks && /^\d+$/.test(startTicks) ? `${boot}:${startTicks}` : null;
  } catch {
    return null;
  }
}

function recordPath(home: string): string {
  return join(home, "up.json");
}

/**
 * Records that this process serves `url` for the home (write then rename: never half a file).
 * Only a `file:` database is recorded: a remote URL may carry credentials.
 */
export function writeUpRecord(home: string, url: string, about: { pid?: number; dbUrl?: string; host?: string } = {}): void {
  const pid = about.pid ?? process.pid;
  const db = about.dbUrl?.startsWith("file:") ? about.dbUrl : undefined;
  const tmp = `${recordPath(home)}.${pid}.tmp`;
  const started = processStartMark(pid) ?? undefined;
  writeFileSync(tmp, `${JSON.stringify({ url, pid, db, host: about.host, started })}\n`, { mode: 0o600 });
  renameSync(tmp, recordPath(home));
}

/** Removes the record if it is still this process's (a later `up` on the same home keeps its own). */
export function removeUpRecord(home: string, pid = process.pid): void {
  if (readRecord(home)?.pid === pid) rmSync(recordPath(home), { force: true });
}

function readRecord(home: string): UpRecord | null {
  try {
    const r = JSON.parse(readFileSync(recordPath(home), "utf8")) as Partial<UpRecord>;
    if (typeof r.url !== "string" || !Number.isInteger(r.pid)) return null;
    return {
      url: r.url,
      pid: r.pid!,
      db: typeof r.db === "string" ? r.db : undefined,
      host: typeof r.host === "string" ? r.host : undefined,
      started: typeof r.started === "string" ? r.started : undefined,
    };
  } catch {
    return null;
  }
}

/** Whether a process with this pid exists (signal 0 sends nothing; EPERM means it exists but is not ours). */
function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * The URL of the `switchyard up` serving this home, or null when none recorded one or its
 * process is gone (killed without the chance to remove its record).
 */
export function runningUp(home: string): UpRecord | null {
  const r = readRecord(home);
  return r && processExists(r.pid) ? r : null;
}

/**
 * The recorded `up` only when it is provably the same process that wrote the record (its pid
 * alive with the recorded start mark): what a caller needs before it hands that server a token
 * on its own initiative. Null without a mark (no /proc, or an `up` that predates it).
 */
export function verifiedUp(home: string): UpRecord | null {
  const r = runningUp(home);
  return r?.started !== undefined && processStartMark(r.pid) === r.started ? r : null;
}
