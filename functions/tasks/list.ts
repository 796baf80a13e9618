import type { z } from "@hono/zod-openapi";
import { asc, eq } from "drizzle-orm";
import { tasks } from "../../schema/tasks.ts";
import type { Ctx } from "../lib/ctx.ts";
import { defineRoute, jsonResponse } from "../lib/route.ts";
import { TaskList, TaskListQuery } from "./schema.ts";
import { taskToWire } from "./wire.ts";

export const listTasksRoute = defineRoute(["owner", "daemon", "session"], {
  method: "get",
  path: "/tasks",
  tags: ["tasks"],
  summary: "List tasks",
  description: "CLI: tasks.",
  request: { query: TaskListQuery },
  responses: { 200: jsonResponse(TaskList, "Tasks") },
});

/** Lists tasks, oldest first, optionally by state. */
export async function listTasks(ctx: Ctx, q: z.output<typeof TaskListQuery>) {
  const rows = await ctx.db
    .select()
    .from(tasks)
    .where(q.state === "all" ? undefined : eq(tasks.state, q.state))
    .orderBy(asc(tasks.createdAt), asc(tasks.id));
  return { tasks: rows.map(taskToWire), count: rows.length };
}
