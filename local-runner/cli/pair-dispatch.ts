import { spawn } from "node:child_process";
import { closeSync, mkdirSync, openSync } from "node:fs";
import { join } from "node:path";
import { cliEntry } from "../agents.ts";
import { resolveHome } from "../home.ts";

/** A dispatcher `pair` started in the background. */
export interface StartedDispatcher {
  id: string;
  pid: number;
  log: string;
}

/**
 * Starts `switchyard dispatch --watch --dispatcher-id ID` as a detached process on the given
 * home, its output appended to <home>/logs/dispatch-ID.log, so worker completions reach the
 * manager after `pair` returns. The child outlives this process; stop it by its pid.
 */
export function startDispatcher(id: string, home: string | undefined): StartedDispatcher {
  const h = resolveHome(process.env, { home });
  const logs = join(h.home, "logs");
  mkdirSync(logs, { recursive: true });
  const log = join(logs, `dispatch-${id.replace(/[^A-Za-z0-9._-]/g, "_")}.log`);
  const fd = openSync(log, "a");
  try {
    const child = spawn(process.execPath, [cliEntry(), "dispatch", "--watch", "--dispatcher-id", id, "--home", h.home], {
      detached: true,
      stdio: ["ignore", fd, fd],
      env: process.env,
    });
    child.unref();
    if (child.pid === undefined) throw new Error(`could not start the dispatcher (see ${log})`);
    return { id, pid: child.pid, log };
  } finally {
    closeSync(fd);
  }
}
