import type { z } from "@hono/zod-openapi";
import { and, eq, inArray, sql } from "drizzle-orm";
import { events } from "../../schema/events.ts";
import { sessions } from "../../schema/sessions.ts";
import { transcriptEvents } from "../../schema/observe.ts";
import { bindings, type BindingRow } from "../../schema/bindings.ts";
import { tasks } from "../../schema/tasks.ts";
import { auditInsert } from "../lib/audit.ts";
import type { Ctx } from "../lib/ctx.ts";
import { ApiError } from "../lib/errors.ts";
import { txWithKey } from "../lib/idempotency.ts";
import { defineRoute, jsonBody, jsonResponse } from "../lib/route.ts";
import { isUniqueViolation } from "../lib/sql.ts";
import { ingestSession } from "../observe/ingest.ts";
import { activeSessionByName } from "../sessions/lookup.ts";
import { taskByName } from "../tasks/lookup.ts";
import { bindingToWire } from "../tasks/wire.ts";
import { BindBody, BindResult } from "./schema.ts";
import { canReach } from "../lib/local.ts";

export const bindRoute = defineRoute(
  ["owner"],
  {
    method: "post",
    path: "/bindings",
    tags: ["bindings"],
    summary: "Bind a worker and a manager to a task",
    description: "One active binding per task and per worker; both sessions must be active and of the right role. CLI: bind.",
    request: { body: jsonBody(BindBody) },
    responses: { 201: jsonResponse(BindResult, "Bound") },
  },
  { idempotency: "atomic" },
);

/** Creates the task's active binding; the unique indexes settle races between binders. */
export async function bindTask(ctx: Ctx, input: z.infer<typeof BindBody>, respond?: number) {
  const task = await taskByName(ctx, input.task);
  if (task.state !== "active") {
    throw new ApiError("CONFLICT", `task '${task.name}' is ${task.state}`, { hint: "Bind sessions to an active task; create a new task for new work." });
  }
  const worker = await activeSessionByName(ctx, input.worker, "worker");
  const manager = await activeSessionByName(ctx, input.manager, "manager");
  // Ingest first, so completions the worker wrote before this binding fall under the watermark
  // and are never routed to the new manager. A transcript this host cannot read is left alone.
  if (worker.transcriptPath && canReach(ctx, worker.host)) {
    await ingestSession(ctx, worker).catch(() => null);
  }
  const nowMs = ctx.now().getTime();
  const row: Omit<BindingRow, "eventWatermark"> = {
    id: ctx.newId("bnd"),
    taskId: task.id,
    workerSessionId: worker.id,
    managerSessionId: manager.id,
    state: "active",
    createdAt: nowMs,
    endedAt: null,
  };
  // Evaluated inside the INSERT so no completion can slip between reading and binding.
  const watermark = sql<number>`(SELECT coalesce(max(${transcriptEvents.id}), 0) FROM ${transcriptEvents} WHERE ${transcriptEvents.sessionId} = ${worker.id})`;
  const audit = auditInsert(ctx, {
    kind: "task_bound",
    taskId: task.id,
    payload: { binding_id: row.id, worker: worker.name, manager: manager.name },
  });
  const result = { binding: bindingToWire(row, { task: task.name, worker: worker.name, manager: manager.name }), binding_id: row.id, event_id: audit.id };
  try {
    // One write transaction: the sessions are re-checked under the write lock, so a concurrent
    // deregister cannot leave an active binding to a session that is gone. The transcript
    // ingest above may write first; it is idempotent (offsets), so a retry repeats nothing.
    await txWithKey(
      ctx,
      async (tx) => {
        const live = await tx
          .select({ id: sessions.id })
          .from(sessions)
          .where(and(inArray(sessions.id, [worker.id, manager.id]), eq(sessions.state, "active")));
        if (live.length < 2) {
          throw new ApiError(
            "SESSION_INACTIVE",
            `session '${live.some((l) => l.id === worker.id) ? manager.name : worker.name}' was deregistered concurrently`,
            {
              hint: "Register it again, then bind.",
            },
          );
        }
        await tx.insert(bindings).values({ ...row, eventWatermark: watermark });
        await tx.insert(events).values(audit.row);
      },
      () => (respond ? { body: result, status: respond } : undefined),
    );
  } catch (e) {
    if (!isUniqueViolation(e)) throw e;
    throw await explainBindConflict(ctx, task.id, task.name, worker.id, worker.name);
  }
  return result;
}

/** Works out which active binding blocked the insert, for a precise error. */
async function explainBindConflict(ctx: Ctx, taskId: string, taskName: string, workerId: string, workerName: string): Promise<ApiError> {
  const [taskBound] = await ctx.db
    .select({ id: bindings.id })
    .from(bindings)
    .where(and(eq(bindings.taskId, taskId), eq(bindings.state, "active")))
    .limit(1);
  if (taskBound) {
    return new ApiError("ALREADY_BOUND", `task '${taskName}' already has an active binding`, {
      hint: `Unbind it first: switchyard unbind --task ${taskName}`,
    });
  }
  const [other] = await ctx.db
    .select({ task: tasks.name })
    .from(bindings)
    .innerJoin(tasks, eq(tasks.id, bindings.taskId))
    .where(and(eq(bindings.workerSessionId, workerId), eq(bindings.state, "active")))
    .limit(1);
  return new ApiError("ALREADY_BOUND", `worker '${workerName}' is already bound to task '${other?.task ?? "?"}'`, {
    hint: `A worker serves one task at a time; unbind it first: switchyard unbind --task ${other?.task ?? "<task>"}`,
  });
}
