import type { z } from "@hono/zod-openapi";
import { and, asc, eq } from "drizzle-orm";
import { tasks } from "../../schema/tasks.ts";
import type { Ctx } from "../lib/ctx.ts";
import { decodeCursor, keysetAfter, pageOf } from "../lib/paging.ts";
import { defineRoute, jsonResponse } from "../lib/route.ts";
import { TaskList, TaskListQuery } from "./schema.ts";
import { taskToWire } from "./wire.ts";

export const listTasksRoute = defineRoute(["owner", "daemon", "session"], {
  method: "get",
  path: "/tasks",
  tags: ["tasks"],
  summary: "List tasks, oldest first, a page at a time",
  description: "CLI: tasks [--limit N] [--cursor C].",
  request: { query: TaskListQuery },
  responses: { 200: jsonResponse(TaskList, "Tasks") },
});

/** Lists tasks, oldest first, optionally by state, a page at a time. */
export async function listTasks(ctx: Ctx, q: z.output<typeof TaskListQuery>) {
  const after = decodeCursor(q.cursor, 2, "tasks/list");
  const rows = await ctx.db
    .select()
    .from(tasks)
    .where(and(q.state === "all" ? undefined : eq(tasks.state, q.state), keysetAfter([tasks.createdAt, tasks.id], after)))
    .orderBy(asc(tasks.createdAt), asc(tasks.id))
    .limit(q.limit + 1);
  const page = pageOf(rows, q.limit, (r) => [r.createdAt, r.id], "tasks/list");
  return { tasks: page.items.map(taskToWire), count: page.items.length, next_cursor: page.next_cursor };
}
