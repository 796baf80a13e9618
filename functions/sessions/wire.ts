import { and, eq, or } from "drizzle-orm";
import { bindings } from "../../schema/bindings.ts";
import type { SessionRow } from "../../schema/sessions.ts";
import type { Ctx } from "../lib/ctx.ts";
import { iso, eqLiteral } from "../lib/sql.ts";

/** How a session receives messages, derived from how it was registered. */
export function communicationFor(s: Pick<SessionRow, "name" | "tmuxSession" | "transcriptKind">) {
  if (s.tmuxSession) {
    return { session_kind: "tmux" as const, receive_style: "push" as const, delivery_mode: "push" as const, poll_command: null };
  }
  return {
    session_kind: s.transcriptKind === "claude" ? ("claude_app" as const) : ("codex_app" as const),
    receive_style: "pull" as const,
    delivery_mode: "pull_required" as const,
    poll_command: `switchyard session-inbox ${s.name} --consume-next --wait --json`,
  };
}

/**
 * Which sessions' local details (pid, cwd, tmux session, transcript path, and the agent's own
 * conversation and thread ids) the caller may see: the owner and the daemon see all; a runner
 * those of its host; a session itself and the sessions it shares an active binding with (its
 * worker or its manager). Everyone else gets those fields as null: they locate files and panes on
 * a machine, which is what an attacker needs to read or type into them, and the agent ids are
 * what hook events and app-server turns are matched by.
 */
export async function detailsVisibleTo(ctx: Ctx): Promise<(s: Pick<SessionRow, "id" | "host">) => boolean> {
  return visibleIn(await detailsScope(ctx));
}

/** The predicate of a DetailsScope: whether a session's details are in it. */
export function visibleIn(scope: DetailsScope): (s: Pick<SessionRow, "id" | "host">) => boolean {
  if (scope.kind === "all") return () => true;
  if (scope.kind === "host") return (s) => s.host === scope.host;
  const visible = new Set(scope.ids);
  return (s) => visible.has(s.id);
}

/** detailsVisibleTo as data, for a query that must apply it itself: everyone's, one host's, or these sessions'. */
export type DetailsScope = { kind: "all" } | { kind: "host"; host: string } | { kind: "ids"; ids: string[] };

/** Whose local details the caller may see (see detailsVisibleTo). */
export async function detailsScope(ctx: Ctx): Promise<DetailsScope> {
  const auth = ctx.auth;
  if (auth.kind === "owner" || auth.kind === "daemon") return { kind: "all" };
  if (auth.kind === "runner") return { kind: "host", host: auth.host };
  if (auth.kind !== "session") return { kind: "ids", ids: [] };
  const me = auth.sessionId;
  const peers = await ctx.db
    .select({ worker: bindings.workerSessionId, manager: bindings.managerSessionId })
    .from(bindings)
    .where(and(eqLiteral(bindings.state, "active"), or(eq(bindings.workerSessionId, me), eq(bindings.managerSessionId, me))));
  return { kind: "ids", ids: [...new Set([me, ...peers.flatMap((p) => [p.worker, p.manager])])] };
}

/** The wire form of a session row; `hideDetails` nulls what locates it on its machine or names its agent's conversation. */
export function sessionToWire(s: SessionRow, opts: { redactToken?: boolean; hideDetails?: boolean } = {}) {
  const hide = !!opts.hideDetails;
  return {
    id: s.id,
    name: s.name,
    role: s.role,
    state: s.state,
    pid: hide ? null : s.pid,
    host: s.host,
    cwd: hide ? null : s.cwd,
    tmux_session: hide ? null : s.tmuxSession,
    transcript_path: hide ? null : s.transcriptPath,
    transcript_kind: s.transcriptKind,
    agent_session_id: hide ? null : s.agentSessionId,
    thread_id: hide ? null : s.threadId,
    thread_title: s.threadTitle,
    identity_token: s.tokenId === null ? null : opts.redactToken ? "[redacted]" : s.tokenId,
    last_heartbeat_at: iso(s.lastHeartbeatAt),
    created_at: iso(s.createdAt)!,
    updated_at: iso(s.updatedAt)!,
    gone_at: iso(s.goneAt),
    communication: communicationFor(s),
  };
}
