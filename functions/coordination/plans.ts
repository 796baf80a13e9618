import type { z } from "@hono/zod-openapi";
import { and, desc, eq, inArray } from "drizzle-orm";
import { plans, type PlanRow } from "../../schema/coordination.ts";
import { sessions } from "../../schema/sessions.ts";
import { tasks } from "../../schema/tasks.ts";
import { auditInsert, guardedUpdate } from "../lib/audit.ts";
import { actorOf, type Ctx } from "../lib/ctx.ts";
import { ApiError, notFound } from "../lib/errors.ts";
import { batchWithKey } from "../lib/idempotency.ts";
import { decodeCursor, keysetAfter, pageOf } from "../lib/paging.ts";
import { defineRoute, jsonBody, jsonResponse } from "../lib/route.ts";
import { iso } from "../lib/sql.ts";
import { activeSessionByName } from "../sessions/lookup.ts";
import { assertMayFileUnder, taskForWrite } from "../tasks/lookup.ts";
import { CreatePlanBody, IdParam, Plan, PlanList, PlanListQuery, PlanResult, PlanStatusBody } from "./schema.ts";

export const createPlanRoute = defineRoute(
  ["owner", "session"],
  {
    method: "post",
    path: "/plans",
    tags: ["coordination"],
    summary: "Create a plan with an owner and a status",
    description: "A session token creates plans it owns. CLI: plan create --title T [--body B] [--owner S] [--task T] [--status S].",
    request: { body: jsonBody(CreatePlanBody) },
    responses: { 201: jsonResponse(PlanResult, "Created") },
  },
  { idempotency: "atomic" },
);

export const listPlansRoute = defineRoute(["owner", "daemon", "session"], {
  method: "get",
  path: "/plans",
  tags: ["coordination"],
  summary: "List plans, newest first",
  description: "CLI: plan list [--status S] [--limit N] [--cursor C].",
  request: { query: PlanListQuery },
  responses: { 200: jsonResponse(PlanList, "Plans") },
});

export const showPlanRoute = defineRoute(["owner", "daemon", "session"], {
  method: "get",
  path: "/plans/{id}",
  tags: ["coordination"],
  summary: "Show one plan",
  description: "CLI: plan show ID.",
  request: { params: IdParam },
  responses: { 200: jsonResponse(Plan, "Plan") },
});

export const planStatusRoute = defineRoute(
  ["owner", "session"],
  {
    method: "post",
    path: "/plans/{id}/status",
    tags: ["coordination"],
    summary: "Change a plan's status (owner, or the session that owns the plan)",
    description: "CLI: plan status ID draft|active|done|abandoned.",
    request: { params: IdParam, body: jsonBody(PlanStatusBody) },
    responses: { 200: jsonResponse(PlanResult, "Changed") },
  },
  { idempotency: "atomic" },
);

/** Plans with owner and task names resolved (two queries per page). */
export async function plansToWire(ctx: Ctx, rows: PlanRow[]) {
  const sIds = [...new Set(rows.flatMap((r) => (r.ownerSessionId ? [r.ownerSessionId] : [])))];
  const tIds = [...new Set(rows.flatMap((r) => (r.taskId ? [r.taskId] : [])))];
  const sNames = new Map(
    sIds.length
      ? (await ctx.db.select({ id: sessions.id, name: sessions.name }).from(sessions).where(inArray(sessions.id, sIds))).map((s) => [s.id, s.name])
      : [],
  );
  const tNames = new Map(
    tIds.length ? (await ctx.db.select({ id: tasks.id, name: tasks.name }).from(tasks).where(inArray(tasks.id, tIds))).map((t) => [t.id, t.name]) : [],
  );
  return rows.map((p) => ({
    id: p.id,
    title: p.title,
    body: p.body,
    status: p.status,
    owner: p.ownerSessionId ? (sNames.get(p.ownerSessionId) ?? p.ownerSessionId) : null,
    task: p.taskId ? (tNames.get(p.taskId) ?? p.taskId) : null,
    created_by: p.createdBy,
    created_at: iso(p.createdAt)!,
    updated_at: iso(p.updatedAt)!,
  }));
}

/** Creates a plan (a session's plans are its own). */
export async function createPlan(ctx: Ctx, input: z.output<typeof CreatePlanBody>, respond?: number) {
  let ownerSessionId: string | null = input.owner ? (await activeSessionByName(ctx, input.owner)).id : null;
  if (ctx.auth.kind === "session") {
    if (ownerSessionId && ownerSessionId !== ctx.auth.sessionId)
      throw new ApiError("FORBIDDEN", "a session may create plans only for itself", { hint: "Leave out owner." });
    ownerSessionId = ctx.auth.sessionId;
  }
  const nowMs = ctx.now().getTime();
  const row: PlanRow = {
    id: ctx.newId("pln"),
    title: input.title,
    body: input.body ?? null,
    status: input.status,
    ownerSessionId,
    taskId: input.task ? (await taskForWrite(ctx, input.task, "a plan")).id : null,
    createdBy: actorOf(ctx.auth),
    createdAt: nowMs,
    updatedAt: nowMs,
  };
  const audit = auditInsert(ctx, { kind: "plan_created", taskId: row.taskId, payload: { plan_id: row.id, title: row.title, status: row.status } });
  const result = { plan: (await plansToWire(ctx, [row]))[0]!, plan_id: row.id, event_id: audit.id };
  await batchWithKey(ctx, [ctx.db.insert(plans).values(row), audit.stmt], respond ? { body: result, status: respond } : undefined);
  return result;
}

/** Lists plans, newest first, paged on creation (a plan changed mid-walk keeps its place). */
export async function listPlans(ctx: Ctx, q: z.output<typeof PlanListQuery>) {
  const after = decodeCursor(q.cursor, 2, "coordination/plans-created");
  const rows = await ctx.db
    .select()
    .from(plans)
    .where(and(q.status === "all" ? undefined : eq(plans.status, q.status), keysetAfter([plans.createdAt, plans.id], after, "desc")))
    .orderBy(desc(plans.createdAt), desc(plans.id))
    .limit(q.limit + 1);
  const page = pageOf(rows, q.limit, (r) => [r.createdAt, r.id], "coordination/plans-created");
  return { plans: await plansToWire(ctx, page.items), count: page.items.length, next_cursor: page.next_cursor };
}

async function planById(ctx: Ctx, id: string): Promise<PlanRow> {
  const [p] = await ctx.db.select().from(plans).where(eq(plans.id, id)).limit(1);
  if (!p) throw notFound("plan", id, "List plans with: switchyard plan list");
  return p;
}

/** One plan. */
export async function showPlan(ctx: Ctx, id: string) {
  return (await plansToWire(ctx, [await planById(ctx, id)]))[0]!;
}

/** Changes a plan's status, guarded by the status it was read with. */
export async function setPlanStatus(ctx: Ctx, id: string, input: z.output<typeof PlanStatusBody>, respond?: number) {
  const p = await planById(ctx, id);
  if (ctx.auth.kind === "session" && p.ownerSessionId !== ctx.auth.sessionId) {
    throw new ApiError("FORBIDDEN", `plan '${id}' is owned by someone else`, { hint: "Ask its owner." });
  }
  // A status change is filed under the plan's task (its audit), so the same rule as filing it:
  // a session that has since been unbound from that task may not; one whose binding the task's
  // finish ended may still close its plan out.
  if (ctx.auth.kind === "session" && p.taskId) {
    const [task] = await ctx.db.select({ id: tasks.id, name: tasks.name, finishedAt: tasks.finishedAt }).from(tasks).where(eq(tasks.id, p.taskId)).limit(1);
    // After the finish only to close it out (done or abandoned), never to set it going again.
    const closing = input.status === "done" || input.status === "abandoned";
    if (task) await assertMayFileUnder(ctx, task, "a plan's status change", { orFinishedWith: closing });
  }
  const audit = auditInsert(ctx, { kind: "plan_status_changed", taskId: p.taskId, payload: { plan_id: id, from: p.status, to: input.status } });
  const nowMs = ctx.now().getTime();
  // The answer is built from the row as the update will leave it, so it can commit with the key.
  const result = { plan: (await plansToWire(ctx, [{ ...p, status: input.status, updatedAt: nowMs }]))[0]!, plan_id: id, event_id: audit.id };
  await guardedUpdate(
    ctx,
    audit,
    (tx) =>
      tx
        .update(plans)
        .set({ status: input.status, updatedAt: nowMs })
        .where(and(eq(plans.id, id), eq(plans.status, p.status)))
        .returning(),
    () => new ApiError("CONFLICT", `plan '${id}' changed concurrently`, { hint: "Show it and try again." }),
    () => (respond ? { body: result, status: respond } : undefined),
  );
  return result;
}
