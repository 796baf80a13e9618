import { z } from "@hono/zod-openapi";
import { and, count, desc, eq, sql } from "drizzle-orm";
import { LOOP_EVIDENCE_STATUSES, loopEvidence, type LoopEvidenceRow, type LoopRunRow } from "../../schema/loops.ts";
import { auditInsert } from "../lib/audit.ts";
import { actorOf, type Ctx } from "../lib/ctx.ts";
import { ApiError, type FieldIssue } from "../lib/errors.ts";
import { batchWithKey } from "../lib/idempotency.ts";
import { defineRoute, jsonBody, jsonResponse } from "../lib/route.ts";
import { iso } from "../lib/sql.ts";
import { supervisedTask } from "../supervision/access.ts";
import { TaskNameParam } from "../tasks/schema.ts";
import { EvidenceType, runOf } from "./runs.ts";
import type { ArtifactRequirement } from "./templates.ts";

export const LoopEvidence = z
  .object({
    id: z.string(),
    run_id: z.string(),
    iteration: z.number().int(),
    evidence_type: z.string(),
    status: z.enum(LOOP_EVIDENCE_STATUSES),
    payload: z.record(z.string(), z.unknown()),
    created_by: z.string(),
    created_at: z.string(),
  })
  .openapi("LoopEvidence");

/** The wire form of an evidence receipt. */
export function evidenceToWire(e: LoopEvidenceRow): z.infer<typeof LoopEvidence> {
  return {
    id: e.id,
    run_id: e.runId,
    iteration: e.iteration,
    evidence_type: e.evidenceType,
    status: e.status,
    payload: e.payload,
    created_by: e.createdBy,
    created_at: iso(e.createdAt)!,
  };
}

export const RunParam = TaskNameParam.extend({
  run: z
    .string()
    .min(1)
    .max(100)
    .openapi({ param: { name: "run", in: "path" } }),
});

export const AddEvidenceBody = z
  .object({
    iteration: z.number().int().min(1),
    evidence_type: EvidenceType,
    status: z.enum(LOOP_EVIDENCE_STATUSES).optional().default("satisfied"),
    payload: z.record(z.string(), z.unknown()).optional().default({}),
  })
  .strict()
  .openapi("AddLoopEvidence");

export const AddEvidenceResult = z
  .object({ evidence: LoopEvidence, missing_for_iteration: z.array(z.string()), event_id: z.string() })
  .openapi("AddLoopEvidenceResult");

export const addEvidenceRoute = defineRoute(
  ["owner", "session"],
  {
    method: "post",
    path: "/tasks/{name}/loop-runs/{run}/evidence",
    tags: ["loops"],
    summary: "Record a run-qualified evidence receipt for one loop iteration",
    description:
      "Evidence whose type the run's artifact_requirements describe must carry the listed fields (adversarial_check: non-empty failure_mode, check and result); unstructured evidence is refused. Only the current or an earlier iteration. The bound worker or manager, or the owner. CLI: loop-evidence add|adversarial-check|visual-diff.",
    request: { params: RunParam, body: jsonBody(AddEvidenceBody) },
    responses: { 201: jsonResponse(AddEvidenceResult, "Recorded") },
  },
  { idempotency: "atomic" },
);

/** Refuses a payload that lacks the fields its evidence type requires. */
export function assertArtifactShape(run: LoopRunRow, type: string, payload: Record<string, unknown>): void {
  const req = (run.artifactRequirements as Record<string, ArtifactRequirement>)[type];
  if (!req) return;
  const missing: FieldIssue[] = req.required_fields
    .filter((f) => {
      const v = payload[f];
      return v === undefined || v === null || (typeof v === "string" && !v.trim());
    })
    .map((f) => ({ field: `payload.${f}`, message: `required for ${type} evidence` }));
  if (missing.length) {
    throw new ApiError("VALIDATION_FAILED", `${type} evidence is missing ${missing.map((m) => m.field.slice("payload.".length)).join(", ")}`, {
      hint: `${type}: ${req.description}`,
      fields: missing,
    });
  }
}

/** Which required evidence types have no satisfied receipt for an iteration. */
export async function missingEvidence(ctx: Ctx, run: LoopRunRow, iteration: number): Promise<string[]> {
  const rows = await ctx.db
    .select({ type: loopEvidence.evidenceType })
    .from(loopEvidence)
    .where(and(eq(loopEvidence.runId, run.id), eq(loopEvidence.iteration, iteration), eq(loopEvidence.status, "satisfied")));
  const have = new Set(rows.map((r) => r.type));
  return run.requiredBeforeContinue.filter((t) => !have.has(t));
}

/** Records one evidence receipt. */
export async function addLoopEvidence(ctx: Ctx, name: string, runId: string, input: z.output<typeof AddEvidenceBody>, respond?: number) {
  const st = await supervisedTask(ctx, name, ["worker", "manager"]);
  const run = await runOf(ctx, st.task, runId);
  if (input.iteration > run.currentIteration) {
    throw new ApiError("CONFLICT", `run ${run.id} is at iteration ${run.currentIteration}; evidence for iteration ${input.iteration} comes after it starts`, {
      hint: `Record evidence for iteration ${run.currentIteration}.`,
    });
  }
  assertArtifactShape(run, input.evidence_type, input.payload);
  const row: LoopEvidenceRow = {
    id: ctx.newId("lev"),
    runId: run.id,
    taskId: st.task.id,
    iteration: input.iteration,
    evidenceType: input.evidence_type,
    status: input.status,
    payload: input.payload,
    createdBy: actorOf(ctx.auth),
    createdAt: ctx.now().getTime(),
  };
  const audit = auditInsert(ctx, {
    kind: "loop_evidence_recorded",
    taskId: st.task.id,
    payload: { loop_run_id: run.id, evidence_id: row.id, iteration: row.iteration, evidence_type: row.evidenceType, status: row.status },
  });
  // What is still missing once this receipt is in, known before the commit that stores the answer.
  const missing = (await missingEvidence(ctx, run, input.iteration)).filter((t) => !(row.status === "satisfied" && t === row.evidenceType));
  const result = { evidence: evidenceToWire(row), missing_for_iteration: missing, event_id: audit.id };
  await batchWithKey(ctx, [ctx.db.insert(loopEvidence).values(row), audit.stmt], respond ? { body: result, status: respond } : undefined);
  return result;
}

/** The most receipts a run's status lists (its newest). */
export const STATUS_EVIDENCE = 500;

/**
 * A run's newest STATUS_EVIDENCE receipts, oldest first, with how many it has in all and the
 * types satisfied in each iteration, in the order recorded (over every receipt, not only the listed ones: a status must
 * not call an iteration's evidence missing because an older receipt was left off the list).
 */
export async function evidenceOfRun(ctx: Ctx, runId: string) {
  const [rows, [counted], byIteration] = await ctx.db.batch([
    ctx.db
      .select()
      .from(loopEvidence)
      .where(eq(loopEvidence.runId, runId))
      .orderBy(desc(loopEvidence.iteration), desc(loopEvidence.createdAt))
      .limit(STATUS_EVIDENCE),
    ctx.db.select({ n: count() }).from(loopEvidence).where(eq(loopEvidence.runId, runId)),
    ctx.db
      .select({
        iteration: loopEvidence.iteration,
        types: sql<string>`json_group_array(${loopEvidence.evidenceType} ORDER BY ${loopEvidence.createdAt}, "loop_evidence"."rowid")`,
      })
      .from(loopEvidence)
      .where(and(eq(loopEvidence.runId, runId), eq(loopEvidence.status, "satisfied")))
      .groupBy(loopEvidence.iteration),
  ]);
  const satisfied: Record<string, string[]> = {};
  for (const r of byIteration) satisfied[String(r.iteration)] = JSON.parse(r.types) as string[];
  return { rows: rows.reverse() as LoopEvidenceRow[], total: counted?.n ?? 0, satisfied };
}
