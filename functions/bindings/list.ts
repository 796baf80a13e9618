import type { z } from "@hono/zod-openapi";
import { and, asc, eq, type SQL } from "drizzle-orm";
import { alias } from "drizzle-orm/sqlite-core";
import { bindings } from "../../schema/bindings.ts";
import { sessions } from "../../schema/sessions.ts";
import { tasks } from "../../schema/tasks.ts";
import type { Ctx } from "../lib/ctx.ts";
import { decodeCursor, keysetAfter, pageOf } from "../lib/paging.ts";
import { defineRoute, jsonResponse } from "../lib/route.ts";
import { bindingToWire } from "../tasks/wire.ts";
import { BindingList, BindingListQuery } from "./schema.ts";
import { eqLiteral } from "../lib/sql.ts";

export const listBindingsRoute = defineRoute(["owner", "daemon", "session"], {
  method: "get",
  path: "/bindings",
  tags: ["bindings"],
  summary: "List bindings, oldest first, a page at a time",
  description: "Active bindings by default. CLI: bindings [--state S] [--limit N] [--cursor C].",
  request: { query: BindingListQuery },
  responses: { 200: jsonResponse(BindingList, "Bindings") },
});

/**
 * Bindings matching `where` with their task and session names (`b`, `task`, `worker`,
 * `manager`, as bindingToWire takes them), for the caller to order and cut.
 */
export function bindingsWithNames(ctx: Ctx, where: SQL | undefined) {
  const w = alias(sessions, "w");
  const m = alias(sessions, "m");
  return ctx.db
    .select({ b: bindings, task: tasks.name, worker: w.name, manager: m.name })
    .from(bindings)
    .innerJoin(tasks, eq(tasks.id, bindings.taskId))
    .innerJoin(w, eq(w.id, bindings.workerSessionId))
    .innerJoin(m, eq(m.id, bindings.managerSessionId))
    .where(where);
}

/** Lists bindings with task and session names resolved, oldest first, a page at a time. */
export async function listBindings(ctx: Ctx, q: Pick<z.output<typeof BindingListQuery>, "state" | "limit"> & { cursor?: string }) {
  const rows = await bindingsWithNames(
    ctx,
    and(
      q.state === "all" ? undefined : eqLiteral(bindings.state, q.state),
      keysetAfter([bindings.createdAt, bindings.id], decodeCursor(q.cursor, 2, "bindings/list")),
    ),
  )
    .orderBy(asc(bindings.createdAt), asc(bindings.id))
    .limit(q.limit + 1);
  const page = pageOf(rows, q.limit, (r) => [r.b.createdAt, r.b.id], "bindings/list");
  return { bindings: page.items.map((r) => bindingToWire(r.b, r)), count: page.items.length, next_cursor: page.next_cursor };
}
