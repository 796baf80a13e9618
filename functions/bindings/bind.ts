import type { z } from "@hono/zod-openapi";
import { and, eq, getTableColumns, inArray, sql } from "drizzle-orm";
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

/** Works out which active binding blocked the insert, for a precise error. */
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
      taskJson: sql<string | null>`(SELECT json_object('id', t.id, 'state', t.state) FROM ${tasks} t WHERE t.name = ${input.task})`,
    })
    .from(sessions)
    .where(and(inArray(sessions.name, [input.worker, input.manager]), eqLiteral(sessions.state, "active")));
  const found = rows[0]?.taskJson ? (JSON.parse(rows[0].taskJson) as { id: string; state: string }) : null;
  const strip = (r: (typeof rows)[number] | undefined): SessionRow | undefined => {
    if (!r) return undefined;
    const { taskJson: _taskJson, ...session } = r;
    return session;
  };
  const worker = strip(rows.find((r) => r.name === input.worker && r.role === "worker"));
  const manager = strip(rows.find((r) => r.name === input.manager && r.role === "manager"));
  if (found?.state === "active" && worker && manager) return { task: { id: found.id, name: input.task }, worker, manager };
  const task = await taskByName(ctx, input.task);
  if (task.state !== "active") {
    throw new ApiError("CONFLICT", `task '${task.name}' is ${task.state}`, { hint: "Bind sessions to an active task; create a new task for new work." });
  }
  return { task, worker: await activeSessionByName(ctx, input.worker, "worker"), manager: await activeSessionByName(ctx, input.manager, "manager") };
}

async function explainBindConflict(ctx: Ctx, taskId: string, taskName: string, workerId: string, workerName: string): Promise<ApiError> {
  const [taskBound] = await ctx.db
    .select({ id: bindings.id })
    .from(bindings)
    .where(and(eq(bindings.taskId, taskId), eqLiteral(bindings.state, "active")))
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
    .where(and(eq(bindings.workerSessionId, workerId), eqLiteral(bindings.state, "active")))
    .limit(1);
  return new ApiError("ALREADY_BOUND", `worker '${workerName}' is already bound to task '${other?.task ?? "?"}'`, {
    hint: `A worker serves one task at a time; unbind it first: switchyard unbind --task ${other?.task ?? "<task>"}`,
  });
}
