import { asc, desc, eq } from "drizzle-orm";
import { sessions } from "../../schema/sessions.ts";
import type { Ctx } from "../lib/ctx.ts";
import { notFound } from "../lib/errors.ts";
import { defineRoute, jsonResponse } from "../lib/route.ts";
import { z } from "@hono/zod-openapi";
import { NameParam, Session } from "./schema.ts";
import { detailsVisibleTo, sessionToWire } from "./wire.ts";
import { activeBindingOf } from "../bindings/lookup.ts";

export const SessionDetail = z.object({ session: Session, active_task: z.string().nullable() }).openapi("SessionDetail");

export const showRoute = defineRoute(["owner", "daemon", "runner", "session"], {
  method: "get",
  path: "/sessions/{name}",
  tags: ["sessions"],
  summary: "Show one session (the active one with this name, else the newest gone one)",
  request: { params: NameParam },
  responses: { 200: jsonResponse(SessionDetail, "Session") },
});

/** Shows a session by name, preferring the active row, with the task it is bound to. */
export async function showSession(ctx: Ctx, name: string) {
  const [row] = await ctx.db.select().from(sessions).where(eq(sessions.name, name)).orderBy(asc(sessions.state), desc(sessions.createdAt)).limit(1);
  if (!row) throw notFound("session", name, "List sessions with `switchyard sessions --state all`.");
  const bound = await activeBindingOf(ctx, row.id);
  const visible = await detailsVisibleTo(ctx);
  return { session: sessionToWire(row, { hideDetails: !visible(row) }), active_task: bound?.task ?? null };
}
