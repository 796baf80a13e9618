import type { SessionRow } from "../../schema/sessions.ts";
import type { Ctx } from "./ctx.ts";
import { ApiError } from "./errors.ts";
import { HostError, type Host } from "./host.ts";

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

/** Converts a HostError into the API's error envelope; other errors pass through. */
export function hostErrorToApi(e: unknown): unknown {
  if (!(e instanceof HostError)) return e;
  const code =
    e.code === "TMUX_SESSION_NOT_FOUND" || e.code === "FILE_NOT_FOUND" ? "NOT_FOUND" : e.code === "TMUX_SESSION_EXISTS" ? "CONFLICT" : "HOST_UNAVAILABLE";
  return new ApiError(code, e.message, { hint: e.hint });
}
