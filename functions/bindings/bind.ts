import type { z } from "@hono/zod-openapi";
import { and, getTableColumns, inArray, sql } from "drizzle-orm";
import { events } from "../../schema/events.ts";
import { sessions, type SessionRow } from "../../schema/sessions.ts";
import { transcriptEvents } from "../../schema/observe.ts";
import { bindings, type BindingRow } from "../../schema/bindings.ts";
import { tasks, type TaskRow } from "../../schema/tasks.ts";
import { auditInsert } from "../lib/audit.ts";
import type { Ctx } from "../lib/ctx.ts";
import { ApiError } from "../lib/errors.ts";
import { batchWithKey } from "../lib/idempotency.ts";
import { defineRoute, jsonBody, jsonResponse } from "../lib/route.ts";
import { isUniqueViolation, eqLiteral } from "../lib/sql.ts";
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
  const { task, worker, manager } = await bindParties(ctx, input);
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
    endReason: null,
  };
  // Evaluated inside the INSERT so no completion can slip between reading and binding.
  const watermark = sql<number>`(SELECT coalesce(max(${transcriptEvents.id}), 0) FROM ${transcriptEvents} WHERE ${transcriptEvents.sessionId} = ${worker.id})`;
  const audit = auditInsert(ctx, {
    kind: "task_bound",
    taskId: task.id,
    payload: { binding_id: row.id, worker: worker.name, manager: manager.name },
  });
  // One batch (one write transaction, one round trip): the binding is inserted only while both
  // sessions are still active, checked inside the INSERT under the write lock, so a concurrent
  // deregister cannot leave an active binding to a session that is gone; the audit row is
  // written only if the binding was, and so is the Idempotency-Key's stored response.
  const result = { binding: bindingToWire(row, { task: task.name, worker: worker.name, manager: manager.name }), binding_id: row.id, event_id: audit.id };
  let inserted: Array<{ id: string }>;
  try {
    [inserted] = await batchWithKey(
      ctx,
      [
        ctx.db.all<{ id: string }>(sql`INSERT INTO ${bindings} (id, task_id, worker_session_id, manager_session_id, state, event_watermark, created_at)
        SELECT ${row.id}, ${row.taskId}, ${row.workerSessionId}, ${row.managerSessionId}, 'active', ${watermark}, ${row.createdAt}
        WHERE (SELECT count(*) FROM ${sessions} WHERE ${and(inArray(sessions.id, [worker.id, manager.id]), eqLiteral(sessions.state, "active"))}) = 2
        RETURNING id`),
        ctx.db.run(sql`INSERT INTO ${events} (id, kind, task_id, session_id, actor, payload_json, created_at)
        SELECT ${audit.row.id}, ${audit.row.kind}, ${audit.row.taskId}, ${audit.row.sessionId}, ${audit.row.actor}, ${JSON.stringify(audit.row.payload)}, ${audit.row.createdAt}
        WHERE EXISTS (SELECT 1 FROM ${bindings} WHERE id = ${row.id})`),
      ],
      respond ? { body: result, status: respond, guard: sql`EXISTS (SELECT 1 FROM ${bindings} WHERE id = ${row.id})` } : undefined,
    );
  } catch (e) {
    if (!isUniqueViolation(e)) throw e;
    throw await explainBindConflict(ctx, task.id, task.name, worker.id, worker.name);
  }
  if (!inserted.length) {
    const live = await ctx.db
      .select({ id: sessions.id })
      .from(sessions)
      .where(and(inArray(sessions.id, [worker.id, manager.id]), eqLiteral(sessions.state, "active")));
    throw new ApiError("SESSION_INACTIVE", `session '${live.some((l) => l.id === worker.id) ? manager.name : worker.name}' was deregistered concurrently`, {
      hint: "Register it again, then bind.",
    });
  }
  return result;
}

/**
 * The task and the two sessions of a binding. One query on the common path (the sessions, with
 * the task riding along as a scalar subquery); when anything is missing, inactive or in the wrong
 * role, the lookups run one by one for their precise errors, in the order the caller expects.
 */
async function bindParties(
  ctx: Ctx,
  input: z.infer<typeof BindBody>,
): Promise<{ task: Pick<TaskRow, "id" | "name">; worker: SessionRow; manager: SessionRow }> {
  const rows = await ctx.db
    .select({
      ...getTableColumns(sessions),
      // Whether the task or this worker is bound already rides along too, so a refused bind
      // costs no round trip more than a bind (each an index probe of a partial unique index).
      taskJson: sql<string | null>`(SELECT json_object('id', t.id, 'state', t.state,
        'bound', EXISTS (SELECT 1 FROM ${bindings} b WHERE b.task_id = t.id AND b.state = 'active')) FROM ${tasks} t WHERE t.name = ${input.task})`,
      boundTo: sql<string | null>`(SELECT bt.name FROM ${bindings} b JOIN ${tasks} bt ON bt.id = b.task_id
        WHERE b.worker_session_id = "sessions"."id" AND b.state = 'active' LIMIT 1)`,
    })
    .from(sessions)
    .where(and(inArray(sessions.name, [input.worker, input.manager]), eqLiteral(sessions.state, "active")));
  const found = rows[0]?.taskJson ? (JSON.parse(rows[0].taskJson) as { id: string; state: string; bound: number }) : null;
  const strip = (r: (typeof rows)[number] | undefined): SessionRow | undefined => {
    if (!r) return undefined;
    const { taskJson: _taskJson, boundTo: _boundTo, ...session } = r;
    return session;
  };
  const worker = strip(rows.find((r) => r.name === input.worker && r.role === "worker"));
  const manager = strip(rows.find((r) => r.name === input.manager && r.role === "manager"));
  if (found?.state === "active" && worker && manager) {
    if (found.bound) throw taskBoundError(input.task);
    const boundTo = rows.find((r) => r.id === worker.id)?.boundTo;
    if (boundTo) throw workerBoundError(worker.name, boundTo);
    return { task: { id: found.id, name: input.task }, worker, manager };
  }
  const task = await taskByName(ctx, input.task);
  if (task.state !== "active") {
    throw new ApiError("CONFLICT", `task '${task.name}' is ${task.state}`, { hint: "Bind sessions to an active task; create a new task for new work." });
  }
  return { task, worker: await activeSessionByName(ctx, input.worker, "worker"), manager: await activeSessionByName(ctx, input.manager, "manager") };
}

/**
 * Why a bind lost to a unique index: the task is bound, or the worker is. Both are read in one
 * statement (a refusal costs no more round trips than a bind), each off its partial index.
 */
async function explainBindConflict(ctx: Ctx, taskId: string, taskName: string, workerId: string, workerName: string): Promise<ApiError> {
  const [row] = await ctx.db.all<{ task_bound: number; other_task: string | null }>(sql`SELECT
      EXISTS (SELECT 1 FROM ${bindings} WHERE "task_id" = ${taskId} AND "state" = 'active') AS "task_bound",
      (SELECT ${tasks.name} FROM ${bindings} JOIN ${tasks} ON ${tasks.id} = ${bindings.taskId}
        WHERE ${bindings.workerSessionId} = ${workerId} AND ${bindings.state} = 'active' LIMIT 1) AS "other_task"`);
  if (row?.task_bound) return taskBoundError(taskName);
  return workerBoundError(workerName, row?.other_task ?? null);
}

function taskBoundError(taskName: string): ApiError {
  return new ApiError("ALREADY_BOUND", `task '${taskName}' already has an active binding`, {
    hint: `Unbind it first: switchyard unbind --task ${taskName}`,
  });
}

function workerBoundError(workerName: string, task: string | null): ApiError {
  return new ApiError("ALREADY_BOUND", `worker '${workerName}' is already bound to task '${task ?? "?"}'`, {
    hint: `A worker serves one task at a time; unbind it first: switchyard unbind --task ${task ?? "<task>"}`,
  });
}
