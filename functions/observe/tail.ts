import type { z } from "@hono/zod-openapi";
import { and, desc, eq, lt, type SQL } from "drizzle-orm";
import { bindings } from "../../schema/bindings.ts";
import { transcriptEvents } from "../../schema/observe.ts";
import type { SessionRow } from "../../schema/sessions.ts";
import type { Ctx } from "../lib/ctx.ts";
import { ApiError } from "../lib/errors.ts";
import { decodeTypedCursor, pageOf } from "../lib/paging.ts";
import { defineRoute, jsonResponse } from "../lib/route.ts";
import { iso, eqLiteral } from "../lib/sql.ts";
import { activeSessionByName } from "../sessions/lookup.ts";
import { NameParam } from "../sessions/schema.ts";
import { TailQuery, TailResult } from "./schema.ts";

export const tailRoute = defineRoute(["owner", "daemon", "session"], {
  method: "get",
  path: "/sessions/{name}/events",
  tags: ["observe"],
  summary: "Most recent ingested events of a session, newest first",
  description:
    "Text is redacted unless include_content=true. A session may read itself or a worker it manages. Pages back in time with cursor (the previous next_cursor). CLI: tail SESSION [--limit N] [--cursor C].",
  request: { params: NameParam, query: TailQuery },
  responses: { 200: jsonResponse(TailResult, "Events") },
});

/** A session principal may read its own events or those of a worker it manages. */
export async function assertMayObserve(ctx: Ctx, s: SessionRow): Promise<void> {
  if (ctx.auth.kind !== "session" || ctx.auth.sessionId === s.id) return;
  const [managed] = await ctx.db
    .select({ id: bindings.id })
    .from(bindings)
    .where(and(eq(bindings.workerSessionId, s.id), eq(bindings.managerSessionId, ctx.auth.sessionId), eqLiteral(bindings.state, "active")))
    .limit(1);
  if (!managed) {
    throw new ApiError("FORBIDDEN", `this session neither is nor manages '${s.name}'`, { hint: "Use the owner token or the bound manager's token." });
  }
}

/** Lists a session's latest events, filtered by subtype or kind. */
export async function tailSession(ctx: Ctx, name: string, q: z.output<typeof TailQuery>) {
  const s = await activeSessionByName(ctx, name);
  await assertMayObserve(ctx, s);
  const where: SQL[] = [eq(transcriptEvents.sessionId, s.id)];
  if (q.subtype) where.push(eq(transcriptEvents.subtype, q.subtype));
  if (q.kind) where.push(eq(transcriptEvents.kind, q.kind));
  const before = decodeTypedCursor(q.cursor, ["int"], "observe/tail");
  if (before) where.push(lt(transcriptEvents.id, before[0]));
  // Newest first straight off the (session, id), (session, kind, id) or (session, subtype, id) index.
  const page = pageOf(
    await ctx.db
      .select()
      .from(transcriptEvents)
      .where(and(...where))
      .orderBy(desc(transcriptEvents.id))
      .limit(q.limit + 1),
    q.limit,
    (e) => [e.id],
    "observe/tail",
  );
  const rows = page.items;
  return {
    session: s.name,
    events: rows.map((e) => ({
      id: e.id,
      kind: e.kind,
      subtype: e.subtype,
      event_at: iso(e.eventAt),
      text: e.text === null ? null : q.include_content ? e.text : `[redacted ${e.text.length} chars]`,
      tool: e.tool,
      offset: e.offset,
      generation: e.generation,
    })),
    count: rows.length,
    content_redacted: !q.include_content,
    next_cursor: page.next_cursor,
  };
}
