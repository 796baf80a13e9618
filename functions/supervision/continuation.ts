import { z } from "@hono/zod-openapi";
import { and, asc, desc, eq, sql } from "drizzle-orm";
import {
  CONTINUATION_ROLES,
  continuationReviews,
  REVIEW_VERDICTS,
  taskContinuations,
  type ContinuationReviewRow,
  type ContinuationRow,
} from "../../schema/supervision.ts";
import type { TaskRow } from "../../schema/tasks.ts";
import { events } from "../../schema/events.ts";
import { auditInsert } from "../lib/audit.ts";
import { guardedInsert } from "../lib/guarded.ts";
import { actorOf, type Ctx } from "../lib/ctx.ts";
import { ApiError } from "../lib/errors.ts";
import { batchWithKey } from "../lib/idempotency.ts";
import { QueryBool } from "../lib/names.ts";
import { decodeCursor, keysetAfter, NextCursorField, PageQueryFields, pageOf } from "../lib/paging.ts";
import { defineRoute, jsonBody, jsonResponse } from "../lib/route.ts";
import { isUniqueViolation, iso } from "../lib/sql.ts";
import { TaskNameParam } from "../tasks/schema.ts";
import { supervisedTask } from "./access.ts";
import { configInForce, configToWire, DEFAULT_MANAGER_CONFIG, latestConfigRow } from "./config.ts";
import { criteriaSummary } from "./criteria.ts";
import { allows } from "./permissions.ts";
import { acceptanceCriteria } from "../../schema/supervision.ts";
import { criterionToWire } from "./criteria.ts";

const CorrelationId = z.string().regex(/^[A-Za-z0-9._:-]{1,200}$/, "letters, digits and . _ : - (1-200)");

export const Continuation = z
  .object({
    id: z.string(),
    task: z.string(),
    correlation_id: z.string(),
    role: z.enum(CONTINUATION_ROLES),
    payload: z.record(z.string(), z.unknown()).nullable(),
    redacted: z.boolean().openapi({ description: "The payload is hidden from this reader (see as_role)" }),
    session_id: z.string().nullable(),
    created_by: z.string(),
    created_at: z.string(),
  })
  .openapi("Continuation");

export const ContinuationReview = z
  .object({
    id: z.string(),
    task: z.string(),
    correlation_id: z.string(),
    verdict: z.enum(REVIEW_VERDICTS),
    payload: z.record(z.string(), z.unknown()).nullable(),
    reviewer_session_id: z.string(),
    manager_session_id: z.string().nullable(),
    operator_attention: z.boolean(),
    error: z.string().nullable(),
    created_by: z.string(),
    created_at: z.string(),
  })
  .openapi("ContinuationReview");

function proposalToWire(task: Pick<TaskRow, "name">, r: ContinuationRow, show: boolean, redacted: boolean): z.infer<typeof Continuation> {
  return {
    id: r.id,
    task: task.name,
    correlation_id: r.correlationId,
    role: r.role,
    payload: show && !redacted ? r.payload : null,
    redacted,
    session_id: r.sessionId,
    created_by: r.createdBy,
    created_at: iso(r.createdAt)!,
  };
}

function reviewToWire(task: Pick<TaskRow, "name">, r: ContinuationReviewRow, show: boolean): z.infer<typeof ContinuationReview> {
  return {
    id: r.id,
    task: task.name,
    correlation_id: r.correlationId,
    verdict: r.verdict,
    payload: show ? r.payload : null,
    reviewer_session_id: r.reviewerSessionId,
    manager_session_id: r.managerSessionId,
    operator_attention: r.operatorAttention,
    error: r.error,
    created_by: r.createdBy,
    created_at: iso(r.createdAt)!,
  };
}

export const RoleParam = TaskNameParam.extend({ role: z.enum(CONTINUATION_ROLES).openapi({ param: { name: "role", in: "path" } }) });

export const SubmitContinuationBody = z
  .object({
    correlation_id: CorrelationId.openapi({ description: "The completion turn both proposals answer" }),
    payload: z.record(z.string(), z.unknown()).openapi({ description: 'The proposal, e.g. {"next":"...","why":"..."}' }),
  })
  .strict()
  .openapi("SubmitContinuation");

export const SubmitContinuationResult = z.object({ continuation: Continuation, event_id: z.string() }).openapi("SubmitContinuationResult");

export const submitContinuationRoute = defineRoute(
  ["owner", "session"],
  {
    method: "post",
    path: "/tasks/{name}/continuations/{role}",
    tags: ["supervision"],
    summary: "Submit the worker's or the manager's independent 'what's next' proposal for a completion turn",
    description:
      "The worker's proposal must come first; the manager's is refused until it exists, and the manager reads it redacted until it has submitted its own. One proposal per role and correlation id. A session submits only for its own role. CLI: continuation TASK --submit worker|manager.",
    request: { params: RoleParam, body: jsonBody(SubmitContinuationBody) },
    responses: { 201: jsonResponse(SubmitContinuationResult, "Recorded") },
  },
  { idempotency: "atomic" },
);

async function proposalsOf(ctx: Ctx, taskId: string, correlationId: string) {
  const rows = await ctx.db
    .select()
    .from(taskContinuations)
    .where(and(eq(taskContinuations.taskId, taskId), eq(taskContinuations.correlationId, correlationId)));
  return { worker: rows.find((r) => r.role === "worker") ?? null, manager: rows.find((r) => r.role === "manager") ?? null };
}

/** Records one role's proposal; the worker goes first. */
export async function submitContinuation(ctx: Ctx, name: string, role: "worker" | "manager", input: z.infer<typeof SubmitContinuationBody>, respond?: number) {
  const st = await supervisedTask(ctx, name, [role]);
  if (role === "manager") {
    const { worker } = await proposalsOf(ctx, st.task.id, input.correlation_id);
    if (!worker) {
      throw new ApiError("CONFLICT", `the worker has not submitted its proposal for '${input.correlation_id}' yet`, {
        hint: "Continuations are worker-first: wait for the worker's proposal, then submit the manager's.",
      });
    }
  }
  const row: ContinuationRow = {
    id: ctx.newId("cnt"),
    taskId: st.task.id,
    correlationId: input.correlation_id,
    role,
    payload: input.payload,
    sessionId: st.sessionId,
    createdBy: actorOf(ctx.auth),
    createdAt: ctx.now().getTime(),
  };
  const audit = auditInsert(ctx, {
    kind: "continuation_submitted",
    taskId: st.task.id,
    sessionId: st.sessionId,
    payload: { continuation_id: row.id, role, correlation_id: row.correlationId },
  });
  const result = { continuation: proposalToWire(st.task, row, true, false), event_id: audit.id };
  try {
    await batchWithKey(ctx, [ctx.db.insert(taskContinuations).values(row), audit.stmt], respond ? { body: result, status: respond } : undefined);
  } catch (e) {
    if (isUniqueViolation(e)) {
      throw new ApiError("CONFLICT", `the ${role} already submitted a proposal for '${input.correlation_id}'`, {
        hint: "Proposals are independent and final; use a new correlation id for the next turn.",
      });
    }
    throw e;
  }
  return result;
}

export const CorrelationParam = TaskNameParam.extend({ correlation_id: CorrelationId.openapi({ param: { name: "correlation_id", in: "path" } }) });

export const ReviewBody = z
  .object({
    verdict: z.enum(REVIEW_VERDICTS),
    rationale: z.string().max(20_000).optional(),
    payload: z.record(z.string(), z.unknown()).optional(),
    subagent_run: z
      .object({
        reviewer_session_id: z.string().min(1).max(200),
        manager_session_id: z.string().min(1).max(200).optional(),
        manager_rollout_access: z.boolean(),
      })
      .passthrough()
      .openapi({ description: "Reviewer separation metadata: a reviewer distinct from the manager that could not read the manager's rollout" }),
    error: z.string().max(4000).optional().openapi({ description: "Why the reviewer run failed, when the verdict was forced to stop" }),
  })
  .strict()
  .openapi("ReviewContinuation");

export const ReviewResult = z.object({ review: ContinuationReview, event_id: z.string() }).openapi("ReviewResult");

export const reviewContinuationRoute = defineRoute(
  ["owner", "session"],
  {
    method: "post",
    path: "/tasks/{name}/continuations/{correlation_id}/review",
    tags: ["supervision"],
    summary: "Record a reviewer's verdict over a pair of continuation proposals",
    description:
      "Needs context.spawn_reviewer (POLICY_REFUSED otherwise), both proposals, and reviewer separation: subagent_run.reviewer_session_id distinct from the manager and manager_rollout_access=false. A verdict other than proceed is flagged for operator attention unless nudge-on-completion is auto-proceed. CLI: continuation TASK --review, continuation-reviewer TASK.",
    request: { params: CorrelationParam, body: jsonBody(ReviewBody) },
    responses: { 201: jsonResponse(ReviewResult, "Recorded") },
  },
  { idempotency: "atomic" },
);

/** Records a review after checking permission, both proposals and reviewer separation. */
export async function reviewContinuation(ctx: Ctx, name: string, correlationId: string, input: z.infer<typeof ReviewBody>, respond?: number) {
  const st = await supervisedTask(ctx, name, ["manager"]);
  const config = { ...DEFAULT_MANAGER_CONFIG, ...((await configInForce(ctx, st.task.id)) ?? {}) };
  if (!allows(config.permissions, { category: "context", action: "spawn_reviewer" })) {
    throw new ApiError("POLICY_REFUSED", `manager permission required: context.spawn_reviewer (task '${name}')`, {
      hint: `Grant it if the user agrees: switchyard manager-config ${name} --permit context.spawn_reviewer`,
    });
  }
  const { worker, manager } = await proposalsOf(ctx, st.task.id, correlationId);
  if (!worker || !manager) {
    throw new ApiError(
      "CONFLICT",
      `a review needs both proposals for '${correlationId}'; missing: ${[worker ? null : "worker", manager ? null : "manager"].filter(Boolean).join(", ")}`,
      {
        hint: `switchyard continuation ${name} --submit worker|manager --correlation-id ${correlationId} --payload-json '{...}'`,
      },
    );
  }
  const managerIds = [st.binding?.managerSessionId, manager.sessionId, input.subagent_run.manager_session_id].filter((x): x is string => !!x);
  const sameAsManager = managerIds.includes(input.subagent_run.reviewer_session_id);
  if (sameAsManager || input.subagent_run.manager_rollout_access !== false) {
    throw new ApiError("POLICY_REFUSED", "the reviewer is not separated from the manager", {
      hint: "Run the review in a separate session (reviewer_session_id distinct from the manager) without access to the manager's rollout (manager_rollout_access=false), e.g. with continuation-reviewer.",
      fields: [
        ...(sameAsManager ? [{ field: "subagent_run.reviewer_session_id", message: "must differ from the manager session" }] : []),
        ...(input.subagent_run.manager_rollout_access !== false ? [{ field: "subagent_run.manager_rollout_access", message: "must be false" }] : []),
      ],
    });
  }
  const operatorAttention = input.verdict !== "proceed" && config.nudge_on_completion !== "auto-proceed";
  const row: ContinuationReviewRow = {
    id: ctx.newId("rvw"),
    taskId: st.task.id,
    correlationId,
    verdict: input.verdict,
    payload: { rationale: input.rationale ?? null, ...(input.payload ?? {}), subagent_run: input.subagent_run },
    reviewerSessionId: input.subagent_run.reviewer_session_id,
    managerSessionId: input.subagent_run.manager_session_id ?? st.binding?.managerSessionId ?? null,
    operatorAttention,
    error: input.error ?? null,
    createdBy: actorOf(ctx.auth),
    createdAt: ctx.now().getTime(),
  };
  const audit = auditInsert(ctx, {
    kind: "continuation_reviewed",
    taskId: st.task.id,
    payload: { review_id: row.id, correlation_id: correlationId, verdict: row.verdict, operator_attention: operatorAttention, error: row.error },
  });
  const result = { review: reviewToWire(st.task, row, true), event_id: audit.id };
  // A turn takes a bounded number of reviews (counted in the insert itself, so racing reviews
  // cannot pass it together): the list shows every review of a turn, and a flood of them must
  // not bury the one the operator should read.
  const room = sql`(SELECT count(*) FROM ${continuationReviews} WHERE ${continuationReviews.taskId} = ${st.task.id} AND ${continuationReviews.correlationId} = ${correlationId}) < ${MAX_REVIEWS_PER_TURN}`;
  const inserted = sql`EXISTS (SELECT 1 FROM ${continuationReviews} WHERE ${continuationReviews.id} = ${row.id})`;
  await batchWithKey(
    ctx,
    [guardedInsert(ctx.db, continuationReviews, row, room), guardedInsert(ctx.db, events, audit.row, inserted)],
    respond ? { body: result, status: respond, guard: inserted } : undefined,
  );
  const [stored] = await ctx.db.select({ id: continuationReviews.id }).from(continuationReviews).where(eq(continuationReviews.id, row.id)).limit(1);
  if (!stored) {
    throw new ApiError("CONFLICT", `turn '${correlationId}' already has ${MAX_REVIEWS_PER_TURN} reviews`, {
      hint: `Read them with switchyard continuation ${name} --list --correlation-id ${correlationId}; a new turn takes new reviews.`,
    });
  }
  return result;
}

export const ContinuationsQuery = z.object({
  as_role: z.enum(["all", "worker", "manager", "reviewer"]).optional(),
  include_payload: QueryBool,
  correlation_id: CorrelationId.optional(),
  ...PageQueryFields,
});

export const ContinuationList = z
  .object({ task: z.string(), as_role: z.string(), proposals: z.array(Continuation), reviews: z.array(ContinuationReview), ...NextCursorField })
  .openapi("ContinuationList");

export const listContinuationsRoute = defineRoute(["owner", "daemon", "session"], {
  method: "get",
  path: "/tasks/{name}/continuations",
  tags: ["supervision"],
  summary: "Continuation proposals and reviews, with role-aware redaction",
  description:
    "A session reads as its own role; the owner chooses (default all). Payloads appear only with include_payload, and a role never sees the other role's payload for a turn before it has submitted its own. CLI: continuation TASK --list [--as-role R] [--include-payload].",
  request: { params: TaskNameParam, query: ContinuationsQuery },
  responses: { 200: jsonResponse(ContinuationList, "Proposals and reviews") },
});

/** Reviews one turn may take; the list shows all of them (REVIEWS_PER_TURN is not smaller). */
const MAX_REVIEWS_PER_TURN = 20;
/** Reviews listed per turn, newest first: every one a turn may have. */
const REVIEWS_PER_TURN = MAX_REVIEWS_PER_TURN;

/** Lists proposals (paged, oldest first) and the newest reviews of each listed turn. */
export async function listContinuations(ctx: Ctx, name: string, q: z.output<typeof ContinuationsQuery>) {
  const st = await supervisedTask(ctx, name, ["worker", "manager"]);
  const asRole = st.role === "worker" || st.role === "manager" ? st.role : st.role === "daemon" ? "reviewer" : (q.as_role ?? "all");
  const rows = await ctx.db
    .select()
    .from(taskContinuations)
    .where(
      and(
        eq(taskContinuations.taskId, st.task.id),
        q.correlation_id ? eq(taskContinuations.correlationId, q.correlation_id) : undefined,
        keysetAfter([taskContinuations.createdAt, taskContinuations.id], decodeCursor(q.cursor, 2, "supervision/continuation")),
      ),
    )
    .orderBy(asc(taskContinuations.createdAt), asc(taskContinuations.id))
    .limit(q.limit + 1);
  const page = pageOf(rows, q.limit, (r) => [r.createdAt, r.id], "supervision/continuation");
  const turns = [...new Set(page.items.map((r) => r.correlationId))];
  // Who has submitted for each turn decides what the other role may see.
  const submitted = new Set<string>();
  if (asRole === "worker" || asRole === "manager") {
    const own = await ctx.db
      .select({ c: taskContinuations.correlationId })
      .from(taskContinuations)
      .where(and(eq(taskContinuations.taskId, st.task.id), eq(taskContinuations.role, asRole)));
    for (const o of own) submitted.add(o.c);
  }
  // The newest reviews of each listed turn, read per turn: one limit over all of them let 200
  // newer reviews of another turn push an earlier "revise" (which the operator should see) off.
  const reviews = turns.length
    ? await (async () => {
        const reads = turns.map((turn) =>
          ctx.db
            .select()
            .from(continuationReviews)
            .where(and(eq(continuationReviews.taskId, st.task.id), eq(continuationReviews.correlationId, turn)))
            .orderBy(desc(continuationReviews.createdAt), desc(continuationReviews.id))
            .limit(REVIEWS_PER_TURN),
        );
        const perTurn = await ctx.db.batch(reads as [(typeof reads)[number], ...typeof reads]);
        return perTurn.flat().sort((a, b) => b.createdAt - a.createdAt);
      })()
    : [];
  return {
    task: st.task.name,
    as_role: asRole,
    proposals: page.items.map((r) => {
      const redacted = (asRole === "worker" || asRole === "manager") && r.role !== asRole && !submitted.has(r.correlationId);
      return proposalToWire(st.task, r, q.include_payload, redacted);
    }),
    // Reviews judge both proposals, so a role sees a review's payload only once it has submitted too.
    reviews: reviews.map((r) => reviewToWire(st.task, r, q.include_payload && (asRole === "all" || asRole === "reviewer" || submitted.has(r.correlationId)))),
    next_cursor: page.next_cursor,
  };
}

export const ReviewerContext = z
  .object({
    task: z.object({ name: z.string(), goal: z.string().nullable(), summary: z.string().nullable() }),
    correlation_id: z.string(),
    proposals: z.object({ worker: z.record(z.string(), z.unknown()), manager: z.record(z.string(), z.unknown()) }),
    acceptance_criteria: z.object({ summary: z.record(z.string(), z.number()), criteria: z.array(z.record(z.string(), z.unknown())) }),
    manager_config: z.record(z.string(), z.unknown()).nullable(),
    excluded: z.array(z.string()).openapi({ description: "What the reviewer deliberately does not get" }),
  })
  .openapi("ReviewerContext");

export const reviewerContextRoute = defineRoute(["owner"], {
  method: "get",
  path: "/tasks/{name}/continuations/{correlation_id}/reviewer-context",
  tags: ["supervision"],
  summary: "The read-only context a continuation reviewer gets on stdin",
  description:
    "Both proposals, the criteria ledger, the manager config summary and the task goal; never the manager's rollout. CLI: continuation-reviewer TASK --dry-run.",
  request: { params: CorrelationParam },
  responses: { 200: jsonResponse(ReviewerContext, "Context") },
});

/** Builds the reviewer's allowed context for one turn. */
export async function reviewerContext(ctx: Ctx, name: string, correlationId: string) {
  const st = await supervisedTask(ctx, name, ["manager"]);
  const { worker, manager } = await proposalsOf(ctx, st.task.id, correlationId);
  if (!worker || !manager) throw new ApiError("CONFLICT", `a review needs both proposals for '${correlationId}'`, { hint: "Wait for both to be submitted." });
  const [summary, rows, configRow] = await Promise.all([
    criteriaSummary(ctx, st.task.id),
    ctx.db.select().from(acceptanceCriteria).where(eq(acceptanceCriteria.taskId, st.task.id)).orderBy(asc(acceptanceCriteria.id)).limit(200),
    latestConfigRow(ctx, st.task.id),
  ]);
  const config = configRow ? configToWire(st.task, configRow) : null;
  return {
    task: { name: st.task.name, goal: st.task.goal, summary: st.task.summary },
    correlation_id: correlationId,
    proposals: { worker: worker.payload, manager: manager.payload },
    acceptance_criteria: {
      summary,
      criteria: rows.map((r) => {
        const w = criterionToWire(st.task, r);
        return { id: w.id, criterion: w.criterion, status: w.status, source: w.source, evidence_type: w.evidence_type };
      }),
    },
    manager_config: config
      ? {
          mode: config.mode,
          objective: config.objective,
          guidelines: config.guidelines,
          acceptance: config.acceptance,
          nudge_on_completion: config.nudge_on_completion,
        }
      : null,
    excluded: ["manager rollout and transcript", "worker rollout and transcript", "database access", "the operator's environment and tokens"],
  };
}
