import type { z } from "@hono/zod-openapi";
import { and, asc, desc, eq, gt, inArray, isNull, sql } from "drizzle-orm";
import { aliasedTable } from "drizzle-orm/alias";
import { bindings } from "../../schema/bindings.ts";
import { taskDeps } from "../../schema/convoys.ts";
import { tasks, type TaskRow } from "../../schema/tasks.ts";
import { auditInsert } from "../lib/audit.ts";
import type { Ctx } from "../lib/ctx.ts";
import { ApiError } from "../lib/errors.ts";
import { batchWithKey } from "../lib/idempotency.ts";
import { decodeTypedCursor, pageOf } from "../lib/paging.ts";
import { defineRoute, jsonBody, jsonResponse } from "../lib/route.ts";
import { isUniqueViolation, eqLiteral } from "../lib/sql.ts";
import { endedByTheFinish, taskByName } from "../tasks/lookup.ts";
import { TaskNameParam } from "../tasks/schema.ts";
import { taskToWire } from "../tasks/wire.ts";
import { BlockedList, BlockedQuery, DependBody, DependResult } from "./schema.ts";

export const dependRoute = defineRoute(
  ["owner", "session"],
  {
    method: "post",
    path: "/tasks/{name}/depends",
    tags: ["convoys"],
    summary: "Record that a task waits for another (owner, or the task's bound manager)",
    description: "A dependency that would close a cycle is refused. CLI: task depend A --on B.",
    request: { params: TaskNameParam, body: jsonBody(DependBody) },
    responses: { 201: jsonResponse(DependResult, "Recorded") },
  },
  { idempotency: "atomic" },
);

export const blockedRoute = defineRoute(["owner", "daemon", "session"], {
  method: "get",
  path: "/blocked-tasks",
  tags: ["convoys"],
  summary: "Active tasks waiting for an unfinished task",
  description: "CLI: blocked [--limit N] [--cursor C].",
  request: { query: BlockedQuery },
  responses: { 200: jsonResponse(BlockedList, "Blocked tasks") },
});

/**
 * Refuses a session acting on a task it is not the bound manager of. With `atFinish` (a finished
 * task), the manager of the binding the finish itself ended (end_reason 'finish', at the task's
 * finishedAt): a manager unbound before the finish, even in the same millisecond, had no part in
 * it and may not undo it.
 */
export async function assertManagerOrOwner(ctx: Ctx, task: TaskRow, verb: string, opts: { atFinish?: boolean } = {}): Promise<void> {
  if (ctx.auth.kind !== "session") return;
  const which = opts.atFinish ? (endedByTheFinish(task) ?? sql`false`) : eqLiteral(bindings.state, "active");
  const [b] = await ctx.db
    .select({ manager: bindings.managerSessionId })
    .from(bindings)
    .where(and(eq(bindings.taskId, task.id), which))
    .orderBy(desc(bindings.createdAt))
    .limit(1);
  if (b?.manager !== ctx.auth.sessionId) {
    throw new ApiError("FORBIDDEN", `only the owner or the bound manager of task '${task.name}' may ${verb} it`, {
      hint: "Use the manager's token, or ask the owner.",
    });
  }
}

/** Records A depends on B; refuses self-dependencies and cycles (a recursive walk from B). */
export async function dependOn(ctx: Ctx, name: string, input: z.output<typeof DependBody>, respond?: number) {
  const task = await taskByName(ctx, name);
  const on = await taskByName(ctx, input.on);
  if (task.id === on.id) {
    throw new ApiError("VALIDATION_FAILED", "a task cannot depend on itself", {
      hint: "Name another task in `on` (`switchyard task depend A --on B`); `switchyard tasks` lists them.",
      fields: [{ field: "on", message: "same task" }],
    });
  }
  await assertManagerOrOwner(ctx, task, "add a dependency to");
  const cycle = await ctx.db.all<{ id: string }>(sql`
    WITH RECURSIVE up(id) AS (
      SELECT ${on.id}
      UNION
      SELECT d.depends_on_task_id FROM task_deps d JOIN up ON d.task_id = up.id
    )
    SELECT id FROM up WHERE id = ${task.id} LIMIT 1`);
  if (cycle.length) {
    throw new ApiError("CONFLICT", `'${input.on}' already depends (directly or through others) on '${name}'`, { hint: "Dependencies must not form a cycle." });
  }
  const nowMs = ctx.now().getTime();
  const resolved = on.state === "finished";
  const audit = auditInsert(ctx, { kind: "dependency_added", taskId: task.id, payload: { task: name, depends_on: input.on, already_resolved: resolved } });
  const result = { task: name, depends_on: input.on, resolved, event_id: audit.id };
  try {
    await batchWithKey(
      ctx,
      [ctx.db.insert(taskDeps).values({ taskId: task.id, dependsOnTaskId: on.id, createdAt: nowMs, resolvedAt: resolved ? nowMs : null }), audit.stmt],
      respond ? { body: result, status: respond } : undefined,
    );
  } catch (e) {
    if (isUniqueViolation(e)) {
      throw new ApiError("CONFLICT", `'${name}' already depends on '${input.on}'`, {
        hint: "Nothing to do: the dependency is recorded. `switchyard blocked` lists tasks still waiting.",
      });
    }
    throw e;
  }
  return result;
}

/**
 * Active tasks with an unfinished blocker, by task id, each with all of its open blockers. The
 * page's tasks are found in SQL (the partial index of unresolved dependencies walked in task
 * order, each row checked against both tasks), so a dependency a filter drops can never cut a
 * page short or hide the tasks after it; then every open blocker of those tasks is read.
 */
export async function listBlocked(ctx: Ctx, q: z.output<typeof BlockedQuery>) {
  const after = decodeTypedCursor(q.cursor, ["text"], "convoys/deps");
  const waiter = aliasedTable(tasks, "waiter");
  const blocker = aliasedTable(tasks, "blocker");
  const open = and(isNull(taskDeps.resolvedAt), eqLiteral(waiter.state, "active"), sql`${blocker.state} <> 'finished'`);
  // One table in FROM, so SQLite walks the partial index in task order and groups as it goes
  // (joined, it may start from the tasks and sort); the two tasks are checked by primary key.
  const ids = await ctx.db
    .select({ id: taskDeps.taskId })
    .from(taskDeps)
    .where(
      and(
        isNull(taskDeps.resolvedAt),
        after ? gt(taskDeps.taskId, after[0]) : undefined,
        sql`EXISTS (SELECT 1 FROM ${tasks} w WHERE w.id = ${taskDeps.taskId} AND w.state = 'active')`,
        sql`EXISTS (SELECT 1 FROM ${tasks} b WHERE b.id = ${taskDeps.dependsOnTaskId} AND b.state <> 'finished')`,
      ),
    )
    .groupBy(taskDeps.taskId)
    .orderBy(asc(taskDeps.taskId))
    .limit(q.limit + 1);
  const page = pageOf(ids, q.limit, (r) => [r.id], "convoys/deps");
  const onPage = page.items.map((r) => r.id);
  const rows = onPage.length
    ? await ctx.db
        .select({ task: waiter, waiting: blocker })
        .from(taskDeps)
        .innerJoin(waiter, eq(waiter.id, taskDeps.taskId))
        .innerJoin(blocker, eq(blocker.id, taskDeps.dependsOnTaskId))
        .where(and(open, inArray(taskDeps.taskId, onPage)))
        .orderBy(asc(taskDeps.taskId), asc(taskDeps.dependsOnTaskId))
    : [];
  const blocked: Array<{ task: TaskRow; waiting: TaskRow[] }> = [];
  for (const r of rows) {
    const last = blocked[blocked.length - 1];
    if (last?.task.id === r.task.id) last.waiting.push(r.waiting);
    else blocked.push({ task: r.task, waiting: [r.waiting] });
  }
  return {
    blocked: blocked.map((r) => ({ task: taskToWire(r.task), waiting_for: r.waiting.map((w) => ({ task: w.name, task_id: w.id, state: w.state })) })),
    count: blocked.length,
    next_cursor: page.next_cursor,
  };
}
