import { z } from "@hono/zod-openapi";
import { and, desc, eq, gte, like, or, type SQLWrapper } from "drizzle-orm";
import { taskHandoffs, type HandoffRow } from "../../schema/supervision.ts";
import type { TaskRow } from "../../schema/tasks.ts";
import { auditInsert } from "../lib/audit.ts";
import { actorOf, type Ctx } from "../lib/ctx.ts";
import { batchWithKey } from "../lib/idempotency.ts";
import { decodeCursor, keysetAfter, NextCursorField, PageQueryFields, pageOf } from "../lib/paging.ts";
import { defineRoute, jsonBody, jsonResponse } from "../lib/route.ts";
import { iso } from "../lib/sql.ts";
import { TaskNameParam } from "../tasks/schema.ts";
import { supervisedTask } from "./access.ts";

export const Handoff = z
  .object({
    id: z.string(),
    task: z.string(),
    summary: z.string(),
    next_steps: z.array(z.string()),
    payload: z.record(z.string(), z.unknown()).nullable(),
    session_id: z.string().nullable(),
    created_by: z.string(),
    created_at: z.string(),
  })
  .openapi("Handoff");

/** The wire form of a handoff. */
export function handoffToWire(task: Pick<TaskRow, "name">, h: HandoffRow): z.infer<typeof Handoff> {
  return {
    id: h.id,
    task: task.name,
    summary: h.summary,
    next_steps: h.nextSteps,
    payload: h.payload,
    session_id: h.sessionId,
    created_by: h.createdBy,
    created_at: iso(h.createdAt)!,
  };
}

export const HandoffBody = z
  .object({
    summary: z.string().min(1).max(20_000),
    next_steps: z.array(z.string().min(1).max(4000)).max(50).optional().default([]),
    payload: z.record(z.string(), z.unknown()).optional(),
  })
  .strict()
  .openapi("RecordHandoff");

export const HandoffResult = z.object({ handoff: Handoff, handoff_id: z.string(), event_id: z.string() }).openapi("HandoffResult");

export const recordHandoffRoute = defineRoute(
  ["owner", "session"],
  {
    method: "post",
    path: "/tasks/{name}/handoff",
    tags: ["supervision"],
    summary: "Persist a compact worker handoff: progress and next steps",
    description:
      "Record one before a context transition (compact, clear, new worker) so the manager can read progress from the database. CLI: handoff TASK --summary S [--next-step N ...].",
    request: { params: TaskNameParam, body: jsonBody(HandoffBody) },
    responses: { 201: jsonResponse(HandoffResult, "Recorded") },
  },
  { idempotency: "atomic" },
);

/** Records a handoff with its audit row. */
export async function recordHandoff(ctx: Ctx, name: string, input: z.output<typeof HandoffBody>, respond?: number) {
  const st = await supervisedTask(ctx, name, ["worker", "manager"]);
  const row: HandoffRow = {
    id: ctx.newId("hnd"),
    taskId: st.task.id,
    summary: input.summary,
    nextSteps: input.next_steps,
    payload: input.payload ?? null,
    sessionId: st.sessionId,
    createdBy: actorOf(ctx.auth),
    createdAt: ctx.now().getTime(),
  };
  const audit = auditInsert(ctx, {
    kind: "handoff_recorded",
    taskId: st.task.id,
    sessionId: st.sessionId,
    payload: { handoff_id: row.id, summary: row.summary, next_steps: row.nextSteps },
  });
  const result = { handoff: handoffToWire(st.task, row), handoff_id: row.id, event_id: audit.id };
  await batchWithKey(ctx, [ctx.db.insert(taskHandoffs).values(row), audit.stmt], respond ? { body: result, status: respond } : undefined);
  return result;
}

export const HandoffsQuery = z.object(PageQueryFields);
export const HandoffList = z.object({ task: z.string(), handoffs: z.array(Handoff), ...NextCursorField }).openapi("HandoffList");

export const listHandoffsRoute = defineRoute(["owner", "daemon", "session"], {
  method: "get",
  path: "/tasks/{name}/handoffs",
  tags: ["supervision"],
  summary: "A task's handoffs, newest first",
  description: "CLI: handoff TASK --list.",
  request: { params: TaskNameParam, query: HandoffsQuery },
  responses: { 200: jsonResponse(HandoffList, "Handoffs") },
});

/** Pages a task's handoffs, newest first. */
export async function listHandoffs(ctx: Ctx, name: string, q: z.output<typeof HandoffsQuery>) {
  const st = await supervisedTask(ctx, name, ["worker", "manager"]);
  const rows = await ctx.db
    .select()
    .from(taskHandoffs)
    .where(
      and(
        eq(taskHandoffs.taskId, st.task.id),
        keysetAfter([taskHandoffs.createdAt, taskHandoffs.id], decodeCursor(q.cursor, 2, "supervision/handoff"), "desc"),
      ),
    )
    .orderBy(desc(taskHandoffs.createdAt), desc(taskHandoffs.id))
    .limit(q.limit + 1);
  const page = pageOf(rows, q.limit, (r) => [r.createdAt, r.id], "supervision/handoff");
  return { task: st.task.name, handoffs: page.items.map((h) => handoffToWire(st.task, h)), next_cursor: page.next_cursor };
}

/**
 * The latest handoff that speaks for the task's current worker: recorded since its binding began
 * (`since`), by that worker or by the owner. A manager's own handoff, or one an earlier worker
 * left, says nothing about what this worker has saved.
 */
export async function latestWorkerHandoff(ctx: Ctx, taskId: string, workerId: string, since: number): Promise<HandoffRow | null> {
  const [h] = await ctx.db
    .select()
    .from(taskHandoffs)
    .where(
      and(
        eq(taskHandoffs.taskId, taskId),
        gte(taskHandoffs.createdAt, since),
        or(eq(taskHandoffs.sessionId, workerId), like(taskHandoffs.createdBy, "owner:%")),
      ),
    )
    .orderBy(desc(taskHandoffs.createdAt), desc(taskHandoffs.id))
    .limit(1);
  return h ?? null;
}

/** The latest handoff of a task, or null (one indexed read). */
export async function latestHandoff(ctx: Ctx, taskId: string): Promise<HandoffRow | null> {
  const [h] = await latestHandoffRead(ctx, taskId);
  return h ?? null;
}

/** The read behind `latestHandoff`, unexecuted so it can ride in a batch (`taskId` may be a subquery). */
export function latestHandoffRead(ctx: Ctx, taskId: string | SQLWrapper) {
  return ctx.db.select().from(taskHandoffs).where(eq(taskHandoffs.taskId, taskId)).orderBy(desc(taskHandoffs.createdAt), desc(taskHandoffs.id)).limit(1);
}
