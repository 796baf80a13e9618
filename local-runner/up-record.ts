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
  writeFileSync(tmp, `${JSON.stringify({ url, pid, db, host: about.host })}\n`, { mode: 0o600 });
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
    return { url: r.url, pid: r.pid!, db: typeof r.db === "string" ? r.db : undefined, host: typeof r.host === "string" ? r.host : undefined };
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
