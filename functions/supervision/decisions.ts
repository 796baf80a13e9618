import { z } from "@hono/zod-openapi";
import { and, desc, eq } from "drizzle-orm";
import { managerCycles } from "../../schema/observe.ts";
import { DECISIONS, managerDecisions, type DecisionRow } from "../../schema/supervision.ts";
import type { TaskRow } from "../../schema/tasks.ts";
import { actorOf, type Ctx } from "../lib/ctx.ts";
import { ApiError } from "../lib/errors.ts";
import { batchWithKey } from "../lib/idempotency.ts";
import { decodeCursor, keysetAfter, NextCursorField, PageQueryFields, pageOf } from "../lib/paging.ts";
import { defineRoute, jsonBody, jsonResponse } from "../lib/route.ts";
import { iso } from "../lib/sql.ts";
import { TaskNameParam } from "../tasks/schema.ts";
import { supervisedTask } from "./access.ts";
import { auditAfterInsert } from "./audit-rowid.ts";

export const ManagerDecision = z
  .object({
    id: z.number().int(),
    task: z.string(),
    decision: z.enum(DECISIONS),
    reason: z.string(),
    cycle_id: z.number().int().nullable(),
    payload: z.record(z.string(), z.unknown()).nullable(),
    created_by: z.string(),
    created_at: z.string(),
  })
  .openapi("ManagerDecision");

/** The wire form of a decision. */
export function decisionToWire(task: Pick<TaskRow, "name">, d: DecisionRow): z.infer<typeof ManagerDecision> {
  return {
    id: d.id,
    task: task.name,
    decision: d.decision,
    reason: d.reason,
    cycle_id: d.cycleId,
    payload: d.payload,
    created_by: d.createdBy,
    created_at: iso(d.createdAt)!,
  };
}

export const DecisionBody = z
  .object({
    decision: z.enum(DECISIONS),
    reason: z.string().min(1).max(4000),
    cycle_id: z.number().int().min(1).optional(),
    payload: z.record(z.string(), z.unknown()).optional(),
  })
  .strict()
  .openapi("RecordDecision");

export const DecisionResult = z.object({ decision_id: z.number().int(), decision: ManagerDecision, event_id: z.string() }).openapi("DecisionResult");

export const recordDecisionRoute = defineRoute(
  ["owner", "session"],
  {
    method: "post",
    path: "/tasks/{name}/decisions",
    tags: ["supervision"],
    summary: "Record a manager decision (wait, nudge, interrupt, escalate, stop, inspect) and get its id",
    description:
      "Strict mutating commands (request-worker-compact --strict-decisions) cite the id. The bound manager or the owner. CLI: record-decision TASK DECISION --reason R.",
    request: { params: TaskNameParam, body: jsonBody(DecisionBody) },
    responses: { 201: jsonResponse(DecisionResult, "Recorded") },
  },
  { idempotency: "atomic" },
);

/** Records a decision with its audit row. */
export async function recordDecision(ctx: Ctx, name: string, input: z.infer<typeof DecisionBody>, respond?: number) {
  const st = await supervisedTask(ctx, name, ["manager"]);
  return insertDecision(ctx, st.task, input, respond);
}

/**
 * The insert behind recordDecision, for callers that already resolved the task; `respond` is the
 * route's status, stored with the request's Idempotency-Key in the same batch.
 */
export async function insertDecision(ctx: Ctx, task: TaskRow, input: z.infer<typeof DecisionBody>, respond?: number) {
  // A cited cycle must be one of this task's: strict commands later cite the decision, and an
  // audit trail pointing at a cycle that never was (or another task's) proves nothing.
  if (input.cycle_id !== undefined) {
    const [cycle] = await ctx.db
      .select({ id: managerCycles.id })
      .from(managerCycles)
      .where(and(eq(managerCycles.id, input.cycle_id), eq(managerCycles.taskId, task.id)))
      .limit(1);
    if (!cycle) {
      throw new ApiError("NOT_FOUND", `task '${task.name}' has no cycle ${input.cycle_id}`, {
        hint: `Cite the cycle_id a cycle of this task printed (switchyard cycle ${task.name} --json), or leave --cycle-id out.`,
      });
    }
  }
  const nowMs = ctx.now().getTime();
  const audit = auditAfterInsert(ctx, {
    kind: "decision_recorded",
    taskId: task.id,
    idKey: "decision_id",
    payload: { decision: input.decision, reason: input.reason, cycle_id: input.cycle_id ?? null },
  });
  const values = {
    taskId: task.id,
    decision: input.decision,
    reason: input.reason,
    cycleId: input.cycle_id ?? null,
    payload: input.payload ?? null,
    createdBy: actorOf(ctx.auth),
    createdAt: nowMs,
  };
  const result = (d: DecisionRow) => ({ decision_id: d.id, decision: decisionToWire(task, d), event_id: audit.id });
  // The id is SQLite's: the stored response gets it from the audit row in the same batch.
  const stored = respond ? { body: result({ ...values, id: 0 }), status: respond, fill: audit.fill(["$.decision_id", "$.decision.id"]) } : undefined;
  const [rows] = await batchWithKey(ctx, [ctx.db.insert(managerDecisions).values(values).returning(), audit.stmt], stored);
  return result(rows[0]!);
}

/** A decision of a task by id, or NOT_FOUND. */
export async function decisionById(ctx: Ctx, task: TaskRow, id: number): Promise<DecisionRow> {
  const [d] = await ctx.db
    .select()
    .from(managerDecisions)
    .where(and(eq(managerDecisions.id, id), eq(managerDecisions.taskId, task.id)))
    .limit(1);
  if (!d)
    throw new ApiError("NOT_FOUND", `task '${task.name}' has no decision ${id}`, {
      hint: `Record one: switchyard record-decision ${task.name} nudge --reason "..."`,
    });
  return d;
}

export const DecisionsQuery = z.object(PageQueryFields);
export const DecisionList = z.object({ task: z.string(), decisions: z.array(ManagerDecision), ...NextCursorField }).openapi("DecisionList");

export const listDecisionsRoute = defineRoute(["owner", "daemon", "session"], {
  method: "get",
  path: "/tasks/{name}/decisions",
  tags: ["supervision"],
  summary: "A task's manager decisions, newest first",
  description: "CLI: record-decision TASK --list.",
  request: { params: TaskNameParam, query: DecisionsQuery },
  responses: { 200: jsonResponse(DecisionList, "Decisions") },
});

/** Pages a task's decisions, newest first. */
export async function listDecisions(ctx: Ctx, name: string, q: z.output<typeof DecisionsQuery>) {
  const st = await supervisedTask(ctx, name, ["worker", "manager"]);
  const rows = await ctx.db
    .select()
    .from(managerDecisions)
    .where(and(eq(managerDecisions.taskId, st.task.id), keysetAfter([managerDecisions.id], decodeCursor(q.cursor, 1, "supervision/decisions"), "desc")))
    .orderBy(desc(managerDecisions.id))
    .limit(q.limit + 1);
  const page = pageOf(rows, q.limit, (r) => [r.id], "supervision/decisions");
  return { task: st.task.name, decisions: page.items.map((d) => decisionToWire(st.task, d)), next_cursor: page.next_cursor };
}
