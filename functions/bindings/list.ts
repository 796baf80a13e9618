import type { z } from "@hono/zod-openapi";
import { asc, eq } from "drizzle-orm";
import { alias } from "drizzle-orm/sqlite-core";
import { bindings } from "../../schema/bindings.ts";
import { sessions } from "../../schema/sessions.ts";
import { tasks } from "../../schema/tasks.ts";
import type { Ctx } from "../lib/ctx.ts";
import { defineRoute, jsonResponse } from "../lib/route.ts";
import { bindingToWire } from "../tasks/wire.ts";
import { BindingList, BindingListQuery } from "./schema.ts";

export const listBindingsRoute = defineRoute(["owner", "daemon", "session"], {
  method: "get",
  path: "/bindings",
  tags: ["bindings"],
  summary: "List bindings",
  request: { query: BindingListQuery },
  responses: { 200: jsonResponse(BindingList, "Bindings") },
});

/** Lists bindings with task and session names resolved. */
export async function listBindings(ctx: Ctx, q: z.output<typeof BindingListQuery>) {
  const w = alias(sessions, "w");
  const m = alias(sessions, "m");
  const rows = await ctx.db
    .select({ b: bindings, task: tasks.name, worker: w.name, manager: m.name })
    .from(bindings)
    .innerJoin(tasks, eq(tasks.id, bindings.taskId))
    .innerJoin(w, eq(w.id, bindings.workerSessionId))
    .innerJoin(m, eq(m.id, bindings.managerSessionId))
    .where(q.state === "all" ? undefined : eq(bindings.state, q.state))
    .orderBy(asc(bindings.createdAt));
  return { bindings: rows.map((r) => bindingToWire(r.b, r)), count: rows.length };
}
