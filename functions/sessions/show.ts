import { and, asc, desc, eq, sql } from "drizzle-orm";
import { bindings } from "../../schema/bindings.ts";
import { tasks } from "../../schema/tasks.ts";
import { sessions } from "../../schema/sessions.ts";
import type { Ctx } from "../lib/ctx.ts";
import { perDatabase, type Db } from "../lib/db.ts";
import { notFound } from "../lib/errors.ts";
import { defineRoute, jsonResponse } from "../lib/route.ts";
import { z } from "@hono/zod-openapi";
import { NameParam, Session } from "./schema.ts";
import { detailsVisibleTo, sessionToWire } from "./wire.ts";
import { eqLiteral } from "../lib/sql.ts";

export const SessionDetail = z.object({ session: Session, active_task: z.string().nullable() }).openapi("SessionDetail");

export const showRoute = defineRoute(["owner", "daemon", "runner", "session"], {
  method: "get",
  path: "/sessions/{name}",
  tags: ["sessions"],
  summary: "Show one session (the active one with this name, else the newest gone one)",
  request: { params: NameParam },
  responses: { 200: jsonResponse(SessionDetail, "Session") },
});

/**
 * The session by name (the active row first, else the newest gone one) with the name of a task it
 * is actively bound to, in one statement. Built once per database handle: show is among the most
 * called routes, and building its SQL through drizzle cost more than running it.
 */
function buildShowQuery(db: Db) {
  // One lookup per side, each through its own index: as one `worker = id OR manager = id`
  // SQLite walks every active binding for the row (and took four times as long on an empty table).
  const taskAs = (side: typeof bindings.workerSessionId | typeof bindings.managerSessionId) =>
    db
      .select({ name: tasks.name })
      .from(bindings)
      .innerJoin(tasks, eq(tasks.id, bindings.taskId))
      .where(and(eq(side, sessions.id), eqLiteral(bindings.state, "active")))
      .limit(1);
  return db
    .select({ session: sessions, activeTask: sql<string | null>`coalesce((${taskAs(bindings.workerSessionId)}), (${taskAs(bindings.managerSessionId)}))` })
    .from(sessions)
    .where(eq(sessions.name, sql.placeholder("name")))
    .orderBy(asc(sessions.state), desc(sessions.createdAt))
    .limit(1)
    .prepare();
}

const showQuery = perDatabase(buildShowQuery);

/** Shows a session by name, preferring the active row, with the task it is bound to. */
export async function showSession(ctx: Ctx, name: string) {
  const [found] = await showQuery(ctx.db).all({ name });
  if (!found) throw notFound("session", name, "List sessions with `switchyard sessions --state all`.");
  const row = found.session;
  const visible = await detailsVisibleTo(ctx);
  return { session: sessionToWire(row, { hideDetails: !visible(row) }), active_task: found.activeTask };
}
