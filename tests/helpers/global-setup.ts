import { execFileSync } from "node:child_process";

const KEEPALIVE = `switchyard-test-keepalive-${process.pid}`;

/**
 * Keeps one idle tmux session alive for the whole run. When a test kills the last session,
 * the tmux server exits asynchronously, and a session created in that instant by the next test
 * dies with it; a standing session keeps the server up so that race cannot happen.
 */
export function setup(): void {
  try {
    execFileSync("tmux", ["new-session", "-d", "-s", KEEPALIVE, "sleep", "86400"], { stdio: "ignore" });
  } catch {
    // No tmux here: the tests that need it report that themselves.
  }
}

export function teardown(): void {
  try {
    execFileSync("tmux", ["kill-session", "-t", `=${KEEPALIVE}`], { stdio: "ignore" });
  } catch {
    // Already gone.
  }
}
