import type { SessionRow } from "../../schema/sessions.ts";
import type { Ctx } from "./ctx.ts";
import { ApiError } from "./errors.ts";
import { HostError, type Host, type HostErrorCode, type PaneAgent } from "./host.ts";

/**
 * The host capabilities for a session, or HOST_UNAVAILABLE when this process cannot reach the
 * machine the session lives on (no local runner, or the session is on another host).
 */
export function hostFor(ctx: Ctx, session: Pick<SessionRow, "name" | "host">): Host {
  if (!ctx.host) {
    throw new ApiError("HOST_UNAVAILABLE", `this server has no local runner, so it cannot reach session '${session.name}'`, {
      hint: "Run the command through a `switchyard up` or CLI on the session's machine, or queue it for that host's runner.",
    });
  }
  if (session.host && ctx.hostName && session.host !== ctx.hostName) {
    throw new ApiError("HOST_UNAVAILABLE", `session '${session.name}' lives on host '${session.host}', not on '${ctx.hostName}'`, {
      hint: `Run it on ${session.host}, or let that host's runner execute it (switchyard runner --host ${session.host}).`,
    });
  }
  return ctx.host;
}

/**
 * True when this process can act on a machine: it has a local runner and the host is its own
 * (or unnamed). Transcript reads, pid probes and pane commands all hinge on this.
 */
export function canReach(ctx: Ctx, host: string | null): boolean {
  return !!ctx.host && (!host || !ctx.hostName || host === ctx.hostName);
}

/**
 * True when the session lives on another named host that this process cannot act on, so its
 * side effects go to that host's runner through the command queue (DESIGN.md: real side
 * effects, remote hosts).
 */
export function belongsToRunner(ctx: Ctx, session: Pick<SessionRow, "host">): boolean {
  return !!session.host && !canReach(ctx, session.host);
}

/**
 * Transcript roots implied by the agent CLIs this process launches (their CODEX_HOME or
 * CLAUDE_CONFIG_DIR, when the owner configured one): agents Switchyard spawns write there, so
 * registering their transcripts is allowed even outside the host's default roots.
 */
export function launchTranscriptRoots(ctx: Pick<Ctx, "agents">): string[] {
  const roots: string[] = [];
  const codexHome = ctx.agents?.codex?.env?.CODEX_HOME;
  const claudeDir = ctx.agents?.claude?.env?.CLAUDE_CONFIG_DIR;
  if (codexHome) roots.push(`${codexHome.replace(/\/+$/, "")}/sessions`);
  if (claudeDir) roots.push(`${claudeDir.replace(/\/+$/, "")}/projects`);
  return roots;
}

/**
 * Refuses to touch a pane that is not its agent's (see Host.verifyPane): before any text is typed
 * into it, a key is sent to it, or its screen is read. A session without a recorded pid cannot
 * be checked, so nothing is done to its pane.
 */
export async function assertPaneOwned(
  host: Host,
  target: string,
  agent: { pid: number | null; startedAt?: PaneAgent["startedAt"]; transcriptPath?: PaneAgent["transcriptPath"] },
): Promise<void> {
  if (agent.pid == null) {
    throw new ApiError("PANE_NOT_OWNED", `no agent pid is recorded for tmux session '${target}', so it cannot be checked before use`, {
      hint: "Register the session again with --pid (or --tmux-session on its host, which records the pane's pid).",
    });
  }
  const check = await host.verifyPane(target, { pid: agent.pid, startedAt: agent.startedAt ?? null, transcriptPath: agent.transcriptPath ?? null });
  // A pane that is gone is not someone else's: say so the way tmux itself would, with what to do.
  if (!check.ok && check.missing) {
    throw new ApiError("NOT_FOUND", `tmux session '${target}' not found`, {
      hint: "`tmux ls` lists the sessions that exist. If the agent has ended, mark it gone with `switchyard stop NAME`; if it runs under another tmux name, register it again with that --tmux-session.",
    });
  }
  if (!check.ok) {
    throw new ApiError("PANE_NOT_OWNED", `refusing to use tmux session '${target}': ${check.reason}`, {
      hint: "The pane no longer runs the registered agent (or never did). Register the session again for the pane the agent runs in.",
    });
  }
}

/** What to do about a HostError of each code that carries no hint of its own. */
const HOST_ERROR_HINTS: Record<HostErrorCode, string> = {
  TMUX_MISSING: "Install tmux on the server's host (apt-get install tmux; brew install tmux); `switchyard doctor` checks it.",
  LSOF_MISSING: "Install lsof on the server's host (apt-get install lsof; it ships with macOS); `switchyard doctor` checks it.",
  TMUX_SESSION_NOT_FOUND: "The tmux session is gone: `tmux ls` on the host lists the live ones; `switchyard sessions` shows each session's pane.",
  TMUX_SESSION_EXISTS: "Choose another tmux session name, or stop the session using it (`switchyard stop NAME`).",
  FILE_NOT_FOUND: "Check that the file named exists on the server's host and that the server's user can read it.",
  COMMAND_FAILED: "The message carries the host command's own error; `switchyard doctor` checks the tools this host needs.",
  TIMEOUT: "The host command did not finish in time; retry, and check the host's load.",
};

/** Converts a HostError into the API's error envelope; other errors pass through. */
export function hostErrorToApi(e: unknown): unknown {
  if (!(e instanceof HostError)) return e;
  const code =
    e.code === "TMUX_SESSION_NOT_FOUND" || e.code === "FILE_NOT_FOUND" ? "NOT_FOUND" : e.code === "TMUX_SESSION_EXISTS" ? "CONFLICT" : "HOST_UNAVAILABLE";
  return new ApiError(code, e.message, { hint: e.hint ?? HOST_ERROR_HINTS[e.code] });
}
