import type { z } from "@hono/zod-openapi";
import { and, eq, inArray, sql } from "drizzle-orm";
import { convoys, convoyTasks, taskDeps } from "../../schema/convoys.ts";
import { events } from "../../schema/events.ts";
import { tasks } from "../../schema/tasks.ts";
import { auditInsert } from "../lib/audit.ts";
import { batchWithKey } from "../lib/idempotency.ts";
import type { Ctx } from "../lib/ctx.ts";
import { ApiError } from "../lib/errors.ts";
import { guardedInsert } from "../lib/guarded.ts";
import { defineRoute, jsonBody, jsonResponse } from "../lib/route.ts";
import { taskByName } from "../tasks/lookup.ts";
import { TaskNameParam } from "../tasks/schema.ts";
import { taskToWire } from "../tasks/wire.ts";
import { assertManagerOrOwner } from "./deps.ts";
import { ReopenTaskBody, ReopenTaskResult } from "./schema.ts";

export const reopenTaskRoute = defineRoute(
  ["owner", "session"],
  {
    method: "post",
    path: "/tasks/{name}/reopen",
    tags: ["convoys"],
    summary: "Reopen a finished task; convoys tracking it reopen and tasks depending on it are blocked again",
    description: "Owner, or the session that was the task's manager when it finished. CLI: task reopen NAME [--reason R].",
    request: { params: TaskNameParam, body: { ...jsonBody(ReopenTaskBody), required: false } },
    responses: { 200: jsonResponse(ReopenTaskResult, "Reopened") },
  },
  { idempotency: "atomic" },
);

/**
 * Reopens a task in one batch. The audit row goes first, inserted only while the task is
 * finished; every later statement is guarded by that row's id, so exactly one of concurrent
 * reopens acts, and the task, its convoys and its dependents change together. The answer is
 * known before the batch (the task as the batch leaves it), so with `respond` it is stored in
 * the same batch under the same guard: a reopen that lost its race stores nothing.
 */
export async function reopenTask(ctx: Ctx, name: string, input: z.output<typeof ReopenTaskBody>, respond?: number) {
  const task = await taskByName(ctx, name);
  if (task.state !== "finished") throw new ApiError("CONFLICT", `task '${name}' is not finished`, { hint: `It is ${task.state}.` });
  await assertManagerOrOwner(ctx, task, "reopen", { atFinish: true });
  const nowMs = ctx.now().getTime();
  const closedConvoys = await ctx.db
    .select({ id: convoys.id })
    .from(convoyTasks)
    .innerJoin(convoys, eq(convoys.id, convoyTasks.convoyId))
    .where(and(eq(convoyTasks.taskId, task.id), eq(convoys.state, "closed")));
  const dependents = await ctx.db
    .select({ name: tasks.name })
    .from(taskDeps)
    .innerJoin(tasks, eq(tasks.id, taskDeps.taskId))
    .where(eq(taskDeps.dependsOnTaskId, task.id));
  const audit = auditInsert(ctx, {
    kind: "task_reopened",
    taskId: task.id,
    payload: { reason: input.reason ?? null, reopened_convoys: closedConvoys.map((c) => c.id), reblocked: dependents.map((d) => d.name) },
  });
  const mine = sql`EXISTS (SELECT 1 FROM ${events} WHERE ${events.id} = ${audit.id})`;
  const result = {
    task: taskToWire({ ...task, state: "active", finishedAt: null, updatedAt: nowMs }),
    reopened_convoys: closedConvoys.map((c) => c.id),
    reblocked: dependents.map((d) => d.name),
    event_id: audit.id,
  };
  const [audited] = (await batchWithKey(
    ctx,
    [
      guardedInsert(ctx.db, events, audit.row, sql`EXISTS (SELECT 1 FROM ${tasks} WHERE ${tasks.id} = ${task.id} AND ${tasks.state} = 'finished')`),
      ctx.db
        .update(tasks)
        .set({ state: "active", finishedAt: null, updatedAt: nowMs })
        .where(and(eq(tasks.id, task.id), mine)),
      ctx.db
        .update(convoys)
        .set({ state: "open", reopenedAt: nowMs, closedAt: null, closeReason: null })
        .where(
          and(
            eq(convoys.state, "closed"),
            inArray(convoys.id, ctx.db.select({ id: convoyTasks.convoyId }).from(convoyTasks).where(eq(convoyTasks.taskId, task.id))),
            mine,
          ),
        ),
      ctx.db
        .update(taskDeps)
        .set({ resolvedAt: null, resolveToken: null })
        .where(and(eq(taskDeps.dependsOnTaskId, task.id), mine)),
    ],
    respond ? { body: result, status: respond, guard: mine } : undefined,
  )) as unknown as [{ rowsAffected?: number }];
  // The guarded audit row says which of concurrent reopens acted: no second read needed.
  if (audited?.rowsAffected !== 1) {
    throw new ApiError("CONFLICT", `task '${name}' was reopened concurrently`, {
      hint: `Another request reopened it first; \`switchyard task show ${name}\` shows its state.`,
    });
  }
  return result;
}
