/**
 * Capabilities only a local runner can provide (tmux, lsof, pids, files). Functions receive
 * them through `ctx.host` and must degrade with HOST_UNAVAILABLE when it is absent.
 */
export interface Host {
  /** True when `path` exists and is a regular file. */
  fileExists(path: string): Promise<boolean>;
  /** True when a process with this pid is running (and, when given, started at `startedAt`). */
  pidAlive(pid: number, startedAt?: number | null): Promise<boolean>;
  /** Start time of a process in ms since the epoch, or null when it is not running. */
  pidStartTime(pid: number): Promise<number | null>;
}
