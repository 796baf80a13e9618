import type { z } from "@hono/zod-openapi";
import { and, asc, desc, eq } from "drizzle-orm";
import { convoys, convoyTasks } from "../../schema/convoys.ts";
import { tasks } from "../../schema/tasks.ts";
import type { Ctx } from "../lib/ctx.ts";
import { notFound } from "../lib/errors.ts";
import { decodeCursor, keysetAfter, pageOf, SHOW_EMBED_LIMIT } from "../lib/paging.ts";
import { defineRoute, jsonResponse } from "../lib/route.ts";
import { ConvoyDetail, ConvoyIdParam, ConvoyList, ConvoyListQuery, ConvoyTaskList, ConvoyTasksQuery } from "./schema.ts";
import { convoyFacts, convoyToWire } from "./wire.ts";

export const listConvoysRoute = defineRoute(["owner", "daemon", "session"], {
  method: "get",
  path: "/convoys",
  tags: ["convoys"],
  summary: "List convoys, newest first (open by default)",
  description: "CLI: convoy list [--status open|closed|all] [--limit N] [--cursor C].",
  request: { query: ConvoyListQuery },
  responses: { 200: jsonResponse(ConvoyList, "Convoys") },
});

export const showConvoyRoute = defineRoute(["owner", "daemon", "session"], {
  method: "get",
  path: "/convoys/{id}",
  tags: ["convoys"],
  summary: "Show a convoy and the state of its first tracked tasks",
  description: `tasks holds the first ${SHOW_EMBED_LIMIT} tracked tasks in creation order; the convoy's tracked and finished count them all, and tasks_next_cursor pages on through GET /convoys/{id}/tasks. CLI: convoy show ID.`,
  request: { params: ConvoyIdParam },
  responses: { 200: jsonResponse(ConvoyDetail, "Convoy") },
});

export const convoyTasksRoute = defineRoute(["owner", "daemon", "session"], {
  method: "get",
  path: "/convoys/{id}/tasks",
  tags: ["convoys"],
  summary: "A convoy's tracked tasks and their states, in task creation order, a page at a time",
  description:
    "Keyed on the task id (which never changes), so a task finishing during a walk neither moves nor repeats; a cursor of another convoy's list is refused. CLI: convoy tasks ID [--limit N] [--cursor C].",
  request: { params: ConvoyIdParam, query: ConvoyTasksQuery },
  responses: { 200: jsonResponse(ConvoyTaskList, "Tracked tasks") },
});

/** Lists convoys newest first, a page at a time. */
export async function listConvoys(ctx: Ctx, q: z.output<typeof ConvoyListQuery>) {
  const after = decodeCursor(q.cursor, 2, "convoys/list");
  const rows = await ctx.db
    .select()
    .from(convoys)
    .where(and(q.status === "all" ? undefined : eq(convoys.state, q.status), keysetAfter([convoys.createdAt, convoys.id], after, "desc")))
    .orderBy(desc(convoys.createdAt), desc(convoys.id))
    .limit(q.limit + 1);
  const page = pageOf(rows, q.limit, (r) => [r.createdAt, r.id], "convoys/list");
  const facts = await convoyFacts(ctx, page.items);
  return { convoys: page.items.map((c) => convoyToWire(c, facts)), count: page.items.length, next_cursor: page.next_cursor };
}

async function convoyById(ctx: Ctx, id: string) {
  const [c] = await ctx.db.select().from(convoys).where(eq(convoys.id, id)).limit(1);
  if (!c) throw notFound("convoy", id, "List convoys with: switchyard convoy list --status all");
  return c;
}

/** One page of a convoy's tracked tasks, in task id (creation) order off the convoy_tasks key. */
async function trackedPage(ctx: Ctx, convoyId: string, q: { limit: number; cursor?: string }) {
  // A cursor belongs to one convoy's list.
  const tag = `convoys/tasks/${convoyId}`;
  const after = decodeCursor(q.cursor, 1, tag);
  const rows = await ctx.db
    .select({ task: tasks.name, taskId: convoyTasks.taskId, state: tasks.state })
    .from(convoyTasks)
    .innerJoin(tasks, eq(tasks.id, convoyTasks.taskId))
    .where(and(eq(convoyTasks.convoyId, convoyId), keysetAfter([convoyTasks.taskId], after)))
    .orderBy(asc(convoyTasks.taskId))
    .limit(q.limit + 1);
  const page = pageOf(rows, q.limit, (r) => [r.taskId], tag);
  return { items: page.items.map((t) => ({ task: t.task, task_id: t.taskId, state: t.state })), next_cursor: page.next_cursor };
}

/** One convoy with its first tracked tasks; `listConvoyTasks` pages on from `tasks_next_cursor`. */
export async function showConvoy(ctx: Ctx, id: string) {
  const c = await convoyById(ctx, id);
  const page = await trackedPage(ctx, id, { limit: SHOW_EMBED_LIMIT });
  return { convoy: convoyToWire(c, await convoyFacts(ctx, [c])), tasks: page.items, tasks_next_cursor: page.next_cursor };
}

/** Lists a convoy's tracked tasks, a page at a time. */
export async function listConvoyTasks(ctx: Ctx, id: string, q: z.output<typeof ConvoyTasksQuery>) {
  await convoyById(ctx, id);
  const page = await trackedPage(ctx, id, q);
  return { convoy_id: id, tasks: page.items, count: page.items.length, next_cursor: page.next_cursor };
}
