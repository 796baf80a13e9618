import { and, eq } from "drizzle-orm";
import type { HookAgent } from "../../schema/hooks.ts";
import { hookStates, type HookStateRow } from "../../schema/hooks.ts";
import { sessions, type SessionRow } from "../../schema/sessions.ts";
import type { Ctx } from "../lib/ctx.ts";
import { eqLiteral } from "../lib/sql.ts";

/** What a hook payload says about which agent session sent it. */
export interface HookIdentity {
  agentSessionId: string | null;
  transcriptPath: string | null;
}

/** How the session was found, reported in X-Switchyard-Matched-By. */
export type MatchedBy = "token" | "agent_session_id" | "transcript_path" | "thread_id";

/**
 * Finds the registered session a hook event belongs to. A hook token minted for one session
 * names it outright (and keeps naming it after /clear or resume changed the agent's own ids).
 * Otherwise (a host's hook token, or the owner) the payload is matched, in order, by the
 * transcript path the session was registered with (checked under the agent's transcript roots
 * then, so the strongest evidence), by the agent session id a previous hook recorded, and, for
 * Codex, by its thread id. When the transcript path names an active session, that decides:
 * an agent session id is only something a hook reported, so it never overrides the path.
 * A host's token reaches only sessions of its host. Every lookup is a single indexed read.
 */
export async function resolveHookSession(
  ctx: Ctx,
  agent: HookAgent,
  id: HookIdentity,
): Promise<{ session: SessionRow; by: MatchedBy; state?: HookStateRow | null } | null> {
  const auth = ctx.auth;
  if (auth.kind === "hook" && auth.sessionId) {
    // The common case (a spawned agent's own token): the session and its hook state in one read.
    const [row] = await ctx.db
      .select({ session: sessions, state: hookStates })
      .from(sessions)
      .leftJoin(hookStates, eq(hookStates.sessionId, sessions.id))
      .where(and(eq(sessions.id, auth.sessionId), eqLiteral(sessions.state, "active")))
      .limit(1);
    return row ? { session: row.session, by: "token", state: row.state } : null;
  }
  const allowed = (s: SessionRow | undefined): s is SessionRow =>
    !!s && s.state === "active" && (s.transcriptKind === null || s.transcriptKind === agent) && (auth.kind !== "hook" || s.host === auth.host);
  if (id.transcriptPath) {
    const [s] = await ctx.db
      .select()
      .from(sessions)
      .where(and(eq(sessions.transcriptPath, id.transcriptPath), eqLiteral(sessions.state, "active")))
      .limit(1);
    if (s) return allowed(s) ? { session: s, by: "transcript_path" } : null;
  }
  if (id.agentSessionId) {
    const [row] = await ctx.db
      .select({ session: sessions })
      .from(hookStates)
      .innerJoin(sessions, eq(sessions.id, hookStates.sessionId))
      .where(and(eq(hookStates.agentSessionId, id.agentSessionId), eqLiteral(sessions.state, "active")))
      .limit(1);
    if (allowed(row?.session)) return { session: row.session, by: "agent_session_id" };
  }
  if (agent === "codex" && id.agentSessionId) {
    const [s] = await ctx.db
      .select()
      .from(sessions)
      .where(and(eq(sessions.threadId, id.agentSessionId), eqLiteral(sessions.state, "active")))
      .limit(1);
    if (allowed(s)) return { session: s, by: "thread_id" };
  }
  return null;
}
