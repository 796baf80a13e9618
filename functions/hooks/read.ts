import type { z } from "@hono/zod-openapi";
import { and, desc, eq } from "drizzle-orm";
import { hookEvents, type HookStateRow } from "../../schema/hooks.ts";
import type { SessionRow } from "../../schema/sessions.ts";
import type { Ctx } from "../lib/ctx.ts";
import { maybeRedact } from "../audit/redact.ts";
import { ApiError } from "../lib/errors.ts";
import { decodeCursor, keysetAfter, pageOf } from "../lib/paging.ts";
import { defineRoute, jsonResponse } from "../lib/route.ts";
import { iso, eqLiteral } from "../lib/sql.ts";
import { activeSessionByName } from "../sessions/lookup.ts";
import { bindings } from "../../schema/bindings.ts";
import { hookStateOf } from "./ingest.ts";
import { HookEventList, HookEventsQuery, HookStateResult, SessionNameParam } from "./schema.ts";

export const hookStateRoute = defineRoute(["owner", "daemon", "session"], {
  method: "get",
  path: "/sessions/{name}/hook-state",
  tags: ["hooks"],
  summary: "The session's latest hook-derived state, with its age and the event that set it",
  description: "null when no hook event has arrived for the session. A session may read its own, or that of the worker it manages. CLI: hooks state NAME.",
  request: { params: SessionNameParam },
  responses: { 200: jsonResponse(HookStateResult, "Hook state") },
});

export const hookEventsRoute = defineRoute(["owner", "daemon", "session"], {
  method: "get",
  path: "/sessions/{name}/hook-events",
  tags: ["hooks"],
  summary: "The session's hook events, newest first, one page at a time",
  description:
    "A session may read its own, or those of the worker it manages. The payload's content (prompt, message, tool command, last assistant message) is a length marker unless include_content=true, as in replay. CLI: hooks events NAME --limit N --cursor C [--include-content].",
  request: { params: SessionNameParam, query: HookEventsQuery },
  responses: { 200: jsonResponse(HookEventList, "Hook events") },
});

/** Refuses a session principal reading another session's hooks, unless it manages that worker. */
async function assertMayRead(ctx: Ctx, s: SessionRow): Promise<void> {
  if (ctx.auth.kind !== "session" || ctx.auth.sessionId === s.id) return;
  const [managed] = await ctx.db
    .select({ id: bindings.id })
    .from(bindings)
    .where(and(eq(bindings.workerSessionId, s.id), eq(bindings.managerSessionId, ctx.auth.sessionId), eqLiteral(bindings.state, "active")))
    .limit(1);
  if (!managed) {
    throw new ApiError("FORBIDDEN", `a session may read only its own hook events, or those of the worker it manages, not '${s.name}'`, {
      hint: "Use the owner token, or the token of the session's bound manager.",
    });
  }
}

/** The wire form of a hook state, with its age on the server's clock. */
export function hookStateToWire(ctx: Ctx, name: string, r: HookStateRow) {
  return {
    session: name,
    agent: r.agent,
    state: r.state,
    event: r.eventName,
    state_at: iso(r.stateAt)!,
    age_seconds: Math.max(0, Math.round((ctx.now().getTime() - r.stateAt) / 100) / 10),
    last_event_at: iso(r.lastEventAt)!,
    agent_session_id: r.agentSessionId,
    turn_id: r.turnId,
    pending_transcript_path: r.pendingTranscriptPath,
    events: r.events,
  };
}

/** Reads a session's hook state. */
export async function readHookState(ctx: Ctx, name: string) {
  const s = await activeSessionByName(ctx, name);
  await assertMayRead(ctx, s);
  const row = await hookStateOf(ctx, s.id);
  return { session: s.name, hook_state: row ? hookStateToWire(ctx, s.name, row) : null };
}

/** Lists a session's hook events, newest first, keyset-paged on the event id. */
export async function listHookEvents(ctx: Ctx, name: string, q: z.output<typeof HookEventsQuery>) {
  const s = await activeSessionByName(ctx, name);
  await assertMayRead(ctx, s);
  const after = decodeCursor(q.cursor, 1, "hooks/read");
  const rows = await ctx.db
    .select()
    .from(hookEvents)
    .where(and(eq(hookEvents.sessionId, s.id), keysetAfter([hookEvents.id], after, "desc")))
    .orderBy(desc(hookEvents.id))
    .limit(q.limit + 1);
  const { items: page, next_cursor } = pageOf(rows, q.limit, (r) => [r.id], "hooks/read");
  return {
    session: s.name,
    events: page.map((r) => ({
      id: r.id,
      session: s.name,
      agent: r.agent,
      event: r.eventName,
      agent_session_id: r.agentSessionId,
      turn_id: r.turnId,
      transcript_path: r.transcriptPath,
      state_after: r.stateAfter,
      payload: maybeRedact(r.payload, q.include_content),
      received_at: iso(r.receivedAt)!,
    })),
    count: page.length,
    content_redacted: !q.include_content,
    next_cursor,
  };
}
