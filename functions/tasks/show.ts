import type { z } from "@hono/zod-openapi";
import { and, count, desc, eq, inArray } from "drizzle-orm";
import { bindings, type BindingRow } from "../../schema/bindings.ts";
import { sessions } from "../../schema/sessions.ts";
import type { TaskRow } from "../../schema/tasks.ts";
import type { Ctx } from "../lib/ctx.ts";
import { decodeCursor, keysetAfter, pageOf, SHOW_EMBED_LIMIT } from "../lib/paging.ts";
import { defineRoute, jsonResponse } from "../lib/route.ts";
import { eqLiteral } from "../lib/sql.ts";
import { detailsVisibleTo, sessionToWire } from "../sessions/wire.ts";
import { taskByName } from "./lookup.ts";
import { TaskBindingList, TaskBindingsQuery, TaskDetail, TaskNameParam } from "./schema.ts";
import { bindingToWire, taskToWire } from "./wire.ts";

export const showTaskRoute = defineRoute(["owner", "daemon", "session"], {
  method: "get",
  path: "/tasks/{name}",
  tags: ["tasks"],
  summary: "Show a task with its active binding and its newest bindings",
  description: `bindings_history holds the newest ${SHOW_EMBED_LIMIT} bindings, newest first; bindings_total counts them all and bindings_history_next_cursor pages on through GET /tasks/{name}/bindings. CLI: task show NAME.`,
  request: { params: TaskNameParam },
  responses: { 200: jsonResponse(TaskDetail, "Task") },
});

export const taskBindingsRoute = defineRoute(["owner", "daemon", "session"], {
  method: "get",
  path: "/tasks/{name}/bindings",
  tags: ["tasks"],
  summary: "A task's bindings, newest first, a page at a time",
  description:
    "Every binding the task ever had, active and ended, keyed on creation so a walk neither skips nor repeats a row when the task is rebound meanwhile; a binding made after the walk began is newer than its first page, so it is not in the walk: start again without a cursor to see it. A cursor of another task's list is refused. CLI: task bindings NAME [--limit N] [--cursor C].",
  request: { params: TaskNameParam, query: TaskBindingsQuery },
  responses: { 200: jsonResponse(TaskBindingList, "Bindings") },
});

// A cursor belongs to one task's history: handed to another task it would skip rows there.
const historyTag = (task: TaskRow) => `tasks/bindings/${task.id}`;

/** One page of a task's bindings, newest first, with their sessions' names. */
async function bindingHistoryPage(ctx: Ctx, task: TaskRow, q: { limit: number; cursor?: string }) {
  const after = decodeCursor(q.cursor, 2, historyTag(task));
  const rows = await ctx.db
    .select()
    .from(bindings)
    .where(and(eq(bindings.taskId, task.id), keysetAfter([bindings.createdAt, bindings.id], after, "desc")))
    .orderBy(desc(bindings.createdAt), desc(bindings.id))
    .limit(q.limit + 1);
  const page = pageOf(rows, q.limit, (b) => [b.createdAt, b.id], historyTag(task));
  const names = await sessionsById(
    ctx,
    page.items.flatMap((b) => [b.workerSessionId, b.managerSessionId]),
  );
  const wire = (b: BindingRow) =>
    bindingToWire(b, { task: task.name, worker: names.get(b.workerSessionId)?.name ?? "?", manager: names.get(b.managerSessionId)?.name ?? "?" });
  return { items: page.items.map(wire), next_cursor: page.next_cursor };
}

async function sessionsById(ctx: Ctx, ids: string[]) {
  const unique = [...new Set(ids)];
  const rows = unique.length ? await ctx.db.select().from(sessions).where(inArray(sessions.id, unique)) : [];
  return new Map(rows.map((s) => [s.id, s]));
}

/**
 * Shows a task, its active binding (with both sessions) and its newest bindings; the rest of its
 * history is paged by `listTaskBindings`, starting at `bindings_history_next_cursor`.
 */
export async function showTask(ctx: Ctx, name: string): Promise<z.infer<typeof TaskDetail>> {
  const task = await taskByName(ctx, name);
  const [active] = await ctx.db
    .select()
    .from(bindings)
    .where(and(eq(bindings.taskId, task.id), eqLiteral(bindings.state, "active")))
    .limit(1);
  const history = await bindingHistoryPage(ctx, task, { limit: SHOW_EMBED_LIMIT });
  // Only a history longer than the page needs counting (off bindings_task_idx).
  const [total] = history.next_cursor ? await ctx.db.select({ n: count() }).from(bindings).where(eq(bindings.taskId, task.id)) : [{ n: history.items.length }];
  const byId = await sessionsById(ctx, active ? [active.workerSessionId, active.managerSessionId] : []);
  const worker = active ? byId.get(active.workerSessionId) : undefined;
  const manager = active ? byId.get(active.managerSessionId) : undefined;
  const visible = await detailsVisibleTo(ctx);
  return {
    task: taskToWire(task),
    binding: active ? bindingToWire(active, { task: task.name, worker: worker?.name ?? "?", manager: manager?.name ?? "?" }) : null,
    worker: worker ? sessionToWire(worker, { hideDetails: !visible(worker) }) : null,
    manager: manager ? sessionToWire(manager, { hideDetails: !visible(manager) }) : null,
    bindings_history: history.items,
    bindings_total: total?.n ?? 0,
    bindings_history_next_cursor: history.next_cursor,
  };
}

/** Lists a task's bindings, newest first, a page at a time. */
export async function listTaskBindings(ctx: Ctx, name: string, q: z.output<typeof TaskBindingsQuery>) {
  const task = await taskByName(ctx, name);
  const page = await bindingHistoryPage(ctx, task, q);
  return { task: task.name, bindings: page.items, count: page.items.length, next_cursor: page.next_cursor };
}
