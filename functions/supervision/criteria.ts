import { z } from "@hono/zod-openapi";
import { queryNumber } from "../lib/names.ts";
import { and, asc, count, eq, inArray } from "drizzle-orm";
import { CRITERION_ADD_STATUSES } from "../../schema/enums.ts";
import { acceptanceCriteria, CRITERION_SOURCES, CRITERION_STATUSES, type CriterionRow, type CriterionStatus } from "../../schema/supervision.ts";
import type { TaskRow } from "../../schema/tasks.ts";
import { auditInsert, guardedUpdate } from "../lib/audit.ts";
import { actorOf, type Ctx } from "../lib/ctx.ts";
import { ApiError, type FieldIssue } from "../lib/errors.ts";
import { batchWithKey } from "../lib/idempotency.ts";
import { decodeCursor, keysetAfter, NextCursorField, PageQueryFields, pageOf } from "../lib/paging.ts";
import { defineRoute, jsonBody, jsonResponse } from "../lib/route.ts";
import { iso } from "../lib/sql.ts";
import { TaskNameParam } from "../tasks/schema.ts";
import { supervisedTask } from "./access.ts";
import { auditAfterInsert } from "./audit-rowid.ts";

export const Criterion = z
  .object({
    id: z.number().int(),
    task: z.string(),
    criterion: z.string(),
    source: z.enum(CRITERION_SOURCES),
    status: z.enum(CRITERION_STATUSES),
    rationale: z.string().nullable(),
    evidence: z.record(z.string(), z.unknown()).nullable(),
    evidence_type: z.string().nullable(),
    created_by: z.string(),
    created_at: z.string(),
    updated_at: z.string(),
  })
  .openapi("Criterion");

export type CriterionWire = z.infer<typeof Criterion>;

/** The wire form of a criterion. */
export function criterionToWire(task: Pick<TaskRow, "name">, r: CriterionRow): CriterionWire {
  return {
    id: r.id,
    task: task.name,
    criterion: r.criterion,
    source: r.source,
    status: r.status,
    rationale: r.rationale,
    evidence: r.evidence,
    evidence_type: r.evidenceType,
    created_by: r.createdBy,
    created_at: iso(r.createdAt)!,
    updated_at: iso(r.updatedAt)!,
  };
}

export const CriteriaSummary = z
  .object({ proposed: z.number().int(), accepted: z.number().int(), satisfied: z.number().int(), deferred: z.number().int(), rejected: z.number().int() })
  .openapi("CriteriaSummary");

/** Counts by status in one grouped query served by the (task_id, status) index. */
export async function criteriaSummary(ctx: Ctx, taskId: string): Promise<z.infer<typeof CriteriaSummary>> {
  const rows = await ctx.db
    .select({ status: acceptanceCriteria.status, n: count() })
    .from(acceptanceCriteria)
    .where(eq(acceptanceCriteria.taskId, taskId))
    .groupBy(acceptanceCriteria.status);
  const out = { proposed: 0, accepted: 0, satisfied: 0, deferred: 0, rejected: 0 };
  for (const r of rows) out[r.status] = r.n;
  return out;
}

export const CriteriaQuery = z.object({ status: z.enum(CRITERION_STATUSES).optional(), ...PageQueryFields });

export const CriteriaList = z.object({ task: z.string(), criteria: z.array(Criterion), summary: CriteriaSummary, ...NextCursorField }).openapi("CriteriaList");

export const listCriteriaRoute = defineRoute(["owner", "daemon", "session"], {
  method: "get",
  path: "/tasks/{name}/criteria",
  tags: ["supervision"],
  summary: "The acceptance-criteria ledger of a task, oldest first",
  description: "The canonical task-level criteria state; paged by cursor, optionally one status. CLI: criteria TASK --list [--status S].",
  request: { params: TaskNameParam, query: CriteriaQuery },
  responses: { 200: jsonResponse(CriteriaList, "Criteria") },
});

/** Lists a task's criteria in id order, a page at a time. */
export async function listCriteria(ctx: Ctx, name: string, q: z.output<typeof CriteriaQuery>) {
  const st = await supervisedTask(ctx, name, ["worker", "manager"]);
  const after = decodeCursor(q.cursor, 1, "supervision/criteria");
  const [rows, summary] = await Promise.all([
    ctx.db
      .select()
      .from(acceptanceCriteria)
      .where(
        and(
          eq(acceptanceCriteria.taskId, st.task.id),
          q.status ? eq(acceptanceCriteria.status, q.status) : undefined,
          keysetAfter([acceptanceCriteria.id], after),
        ),
      )
      .orderBy(asc(acceptanceCriteria.id))
      .limit(q.limit + 1),
    criteriaSummary(ctx, st.task.id),
  ]);
  const page = pageOf(rows, q.limit, (r) => [r.id], "supervision/criteria");
  return { task: st.task.name, criteria: page.items.map((r) => criterionToWire(st.task, r)), summary, next_cursor: page.next_cursor };
}

export const AddCriterionBody = z
  .object({
    criterion: z.string().min(1).max(4000),
    source: z.enum(CRITERION_SOURCES).openapi({ description: "worker_proposed, or manager_inferred (from config, cycle evidence or inspection)" }),
    status: z.enum(CRITERION_ADD_STATUSES).optional().default("proposed"),
    rationale: z.string().min(1).max(4000).optional(),
  })
  .strict()
  .openapi("AddCriterion");

export const CriterionMutation = z
  .object({
    affected_criterion: Criterion.openapi({ description: "The row this call changed: the authoritative receipt" }),
    previous_status: z.enum(CRITERION_STATUSES).nullable(),
    event_id: z.string(),
  })
  .openapi("CriterionMutation");

export const addCriterionRoute = defineRoute(
  ["owner", "session"],
  {
    method: "post",
    path: "/tasks/{name}/criteria",
    tags: ["supervision"],
    summary: "Add an acceptance criterion to a task's ledger",
    description:
      "The bound manager may add any source and status; the bound worker only proposes (source worker_proposed, status proposed). CLI: criteria TASK --add --criterion TEXT --source S [--status S].",
    request: { params: TaskNameParam, body: jsonBody(AddCriterionBody) },
    responses: { 201: jsonResponse(CriterionMutation, "Added") },
  },
  { idempotency: "atomic" },
);

/** Adds a criterion; a worker may only propose. */
export async function addCriterion(ctx: Ctx, name: string, input: z.output<typeof AddCriterionBody>, respond?: number) {
  const st = await supervisedTask(ctx, name, ["worker", "manager"]);
  if (st.role === "worker" && (input.source !== "worker_proposed" || input.status !== "proposed")) {
    throw new ApiError("FORBIDDEN", "a worker may only propose criteria (source worker_proposed, status proposed)", {
      hint: "The manager accepts, defers or rejects proposals.",
    });
  }
  return insertCriterion(ctx, st.task, input, respond);
}

/**
 * Inserts a criterion with its audit row in one batch (also used to seed config acceptance);
 * `respond` is the route's status, stored with the request's Idempotency-Key in that batch.
 */
export async function insertCriterion(ctx: Ctx, task: TaskRow, input: z.output<typeof AddCriterionBody>, respond?: number) {
  const nowMs = ctx.now().getTime();
  const audit = auditAfterInsert(ctx, {
    kind: "criterion_added",
    taskId: task.id,
    idKey: "criterion_id",
    payload: { criterion: input.criterion, source: input.source, status: input.status, rationale: input.rationale ?? null },
  });
  const values = {
    taskId: task.id,
    criterion: input.criterion,
    source: input.source,
    status: input.status,
    rationale: input.rationale ?? null,
    evidence: null,
    evidenceType: null,
    createdBy: actorOf(ctx.auth),
    createdAt: nowMs,
    updatedAt: nowMs,
  };
  const result = (row: CriterionRow) => ({ affected_criterion: criterionToWire(task, row), previous_status: null, event_id: audit.id });
  // The id is SQLite's: the stored response gets it from the audit row in the same batch.
  const stored = respond ? { body: result({ ...values, id: 0 }), status: respond, fill: audit.fill(["$.affected_criterion.id"]) } : undefined;
  const [inserted] = await batchWithKey(ctx, [ctx.db.insert(acceptanceCriteria).values(values).returning(), audit.stmt], stored);
  return result(inserted[0]!);
}

export const CRITERION_ACTIONS = ["accept", "defer", "reject", "satisfy"] as const;

/** Which statuses each action may start from, and where it leads. */
const TRANSITIONS: Record<(typeof CRITERION_ACTIONS)[number], { from: CriterionStatus[]; to: CriterionStatus }> = {
  accept: { from: ["proposed", "deferred", "rejected"], to: "accepted" },
  defer: { from: ["proposed", "accepted"], to: "deferred" },
  reject: { from: ["proposed", "accepted", "deferred"], to: "rejected" },
  satisfy: { from: ["proposed", "accepted"], to: "satisfied" },
};

export const CriterionActionBody = z
  .object({
    action: z.enum(CRITERION_ACTIONS),
    rationale: z.string().min(1).max(4000).optional(),
    evidence: z.record(z.string(), z.unknown()).optional().openapi({
      description:
        'Required to satisfy: what verified the criterion, e.g. {"command":"npm test","status":"pass"}. evidence_type adversarial_check also needs failure_mode, check and result.',
    }),
  })
  .strict()
  .openapi("CriterionAction");

export const CriterionIdParam = TaskNameParam.extend({
  id: queryNumber(z.number().int().min(1)).openapi({ param: { name: "id", in: "path" } }),
});

export const criterionActionRoute = defineRoute(
  ["owner", "session"],
  {
    method: "post",
    path: "/tasks/{name}/criteria/{id}",
    tags: ["supervision"],
    summary: "Accept, defer, reject or satisfy a criterion (the bound manager or the owner)",
    description:
      "One conditional update: an action from a status it does not apply to is CONFLICT and changes nothing. Satisfy needs evidence; adversarial_check evidence needs non-empty failure_mode, check and result. CLI: criteria TASK --accept|--defer|--reject ID --rationale R, --satisfy ID --evidence-json JSON.",
    request: { params: CriterionIdParam, body: jsonBody(CriterionActionBody) },
    responses: { 200: jsonResponse(CriterionMutation, "Changed") },
  },
  { idempotency: "atomic" },
);

/** The fields adversarial evidence must carry, each a non-empty string. */
export const ADVERSARIAL_FIELDS = ["failure_mode", "check", "result"] as const;

/** The evidence type named by an evidence object (`evidence_type`, or `type`). */
export function evidenceTypeOf(evidence: Record<string, unknown>): string | null {
  const t = evidence.evidence_type ?? evidence.type;
  return typeof t === "string" && t ? t : null;
}

/** Refuses adversarial_check evidence that does not say how the change was attacked. */
export function assertAdversarialShape(evidence: Record<string, unknown>, field = "evidence"): void {
  if (evidenceTypeOf(evidence) !== "adversarial_check") return;
  const missing: FieldIssue[] = ADVERSARIAL_FIELDS.filter((k) => typeof evidence[k] !== "string" || !(evidence[k] as string).trim()).map((k) => ({
    field: `${field}.${k}`,
    message: "required, a non-empty string, for adversarial_check evidence",
  }));
  if (missing.length) {
    throw new ApiError("VALIDATION_FAILED", `adversarial_check evidence is missing ${missing.map((m) => m.field.split(".").pop()).join(", ")}`, {
      hint: 'Say how you tried to break it: {"evidence_type":"adversarial_check","failure_mode":"...","check":"<command or inspection>","result":"<what happened>"}',
      fields: missing,
    });
  }
}

/** Applies one action to a criterion with a conditional UPDATE, and audits it in the same transaction. */
export async function actOnCriterion(ctx: Ctx, name: string, id: number, input: z.output<typeof CriterionActionBody>, respond?: number) {
  const st = await supervisedTask(ctx, name, ["manager"]);
  const t = TRANSITIONS[input.action];
  if (input.action === "satisfy") {
    if (!input.evidence || !Object.keys(input.evidence).length) {
      throw new ApiError("VALIDATION_FAILED", "satisfying a criterion needs evidence", {
        hint: 'Pass what verified it, e.g. --evidence-json \'{"command":"npm test","status":"pass"}\'',
        fields: [{ field: "evidence", message: "required to satisfy" }],
      });
    }
    assertAdversarialShape(input.evidence);
  }
  const [current] = await ctx.db
    .select()
    .from(acceptanceCriteria)
    .where(and(eq(acceptanceCriteria.id, id), eq(acceptanceCriteria.taskId, st.task.id)))
    .limit(1);
  if (!current) throw new ApiError("NOT_FOUND", `task '${name}' has no criterion ${id}`, { hint: `List them: switchyard criteria ${name} --list` });
  const nowMs = ctx.now().getTime();
  const evidence = input.action === "satisfy" ? input.evidence! : undefined;
  const audit = auditInsert(ctx, {
    kind: `criterion_${t.to}`,
    taskId: st.task.id,
    payload: {
      criterion_id: id,
      action: input.action,
      previous_status: current.status,
      status: t.to,
      rationale: input.rationale ?? null,
      ...(evidence ? { evidence, evidence_type: evidenceTypeOf(evidence) } : {}),
    },
  });
  const result = (r: CriterionRow) => ({ affected_criterion: criterionToWire(st.task, r), previous_status: current.status, event_id: audit.id });
  const row = await guardedUpdate(
    ctx,
    audit,
    (tx) =>
      tx
        .update(acceptanceCriteria)
        .set({
          status: t.to,
          rationale: input.rationale ?? current.rationale,
          ...(evidence ? { evidence, evidenceType: evidenceTypeOf(evidence) } : {}),
          updatedAt: nowMs,
        })
        // From the status it was read in: the audit row says previous_status, and a concurrent
        // action in between would make that a false record (accept and defer racing both
        // claimed to move it from proposed).
        .where(
          and(
            eq(acceptanceCriteria.id, id),
            eq(acceptanceCriteria.taskId, st.task.id),
            inArray(acceptanceCriteria.status, t.from),
            eq(acceptanceCriteria.status, current.status),
          ),
        )
        .returning(),
    () =>
      (t.from as readonly string[]).includes(current.status)
        ? new ApiError("CONFLICT", `criterion ${id} changed while this ${input.action} was applied (it was ${current.status})`, {
            hint: `Look at it again and retry if it still applies: switchyard criteria ${name} --list`,
          })
        : new ApiError("CONFLICT", `criterion ${id} is ${current.status}; ${input.action} applies only to ${t.from.join(", ")}`, {
            hint:
              current.status === "deferred" || current.status === "rejected"
                ? `Accept it first: switchyard criteria ${name} --accept ${id}`
                : `List the ledger: switchyard criteria ${name} --list`,
          }),
    (changed) => (respond ? { body: result(changed), status: respond } : undefined),
  );
  return result(row);
}
