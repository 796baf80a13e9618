import { z } from "@hono/zod-openapi";
import { and, desc, eq } from "drizzle-orm";
import { acceptanceCriteria, epilogueRuns } from "../../schema/supervision.ts";
import type { TaskRow } from "../../schema/tasks.ts";
import { auditInsert } from "../lib/audit.ts";
import type { Ctx } from "../lib/ctx.ts";
import { ApiError } from "../lib/errors.ts";
import { latestAck } from "./acks.ts";
import { configInForce, DEFAULT_MANAGER_CONFIG } from "./config.ts";
import { ADVERSARIAL_FIELDS } from "./criteria.ts";

/** The finish gates a caller may ask for. */
export const FinishGateFields = {
  require_criteria_audit: z.boolean().optional().default(false).openapi({ description: "Refuse while any criterion is accepted but not satisfied" }),
  require_acks: z
    .boolean()
    .optional()
    .default(false)
    .openapi({ description: "Refuse without worker and manager acks (also on when the config requires acks)" }),
  require_epilogue: z.boolean().optional().default(false).openapi({ description: "Refuse unless every configured epilogue step's latest run succeeded" }),
  require_adversarial_proof: z
    .boolean()
    .optional()
    .default(false)
    .openapi({ description: "Refuse without a satisfied criterion carrying adversarial_check evidence (failure_mode, check, result)" }),
};

export type FinishGateInput = { [K in keyof typeof FinishGateFields]?: boolean };

export const GateVerdict = z
  .object({ gate: z.string(), required: z.boolean(), passed: z.boolean(), missing: z.array(z.string()) })
  .openapi("FinishGateVerdict");

type Verdict = z.infer<typeof GateVerdict>;

/** Evaluates the requested gates against the ledger, acks, epilogue runs and config; reads only. */
export async function evaluateFinishGates(ctx: Ctx, task: TaskRow, input: FinishGateInput): Promise<Verdict[]> {
  const config = (await configInForce(ctx, task.id)) ?? null;
  const requireAcks = input.require_acks === true || config?.require_acks === true;
  const verdicts: Verdict[] = [];
  if (input.require_criteria_audit) {
    const open = await ctx.db
      .select({ id: acceptanceCriteria.id, criterion: acceptanceCriteria.criterion })
      .from(acceptanceCriteria)
      .where(and(eq(acceptanceCriteria.taskId, task.id), eq(acceptanceCriteria.status, "accepted")))
      .limit(50);
    verdicts.push({
      gate: "criteria_audit",
      required: true,
      passed: open.length === 0,
      missing: open.map((c) => `criterion #${c.id} is accepted but not satisfied: ${c.criterion}`),
    });
  }
  if (requireAcks) {
    const [w, m] = await Promise.all([latestAck(ctx, task.id, "worker"), latestAck(ctx, task.id, "manager")]);
    const missing = [...(w ? [] : ["worker ack"]), ...(m ? [] : ["manager ack"])];
    verdicts.push({ gate: "acks", required: true, passed: missing.length === 0, missing });
  }
  if (input.require_epilogue) {
    const steps = (config ?? DEFAULT_MANAGER_CONFIG).epilogues;
    const missing: string[] = [];
    for (const step of steps) {
      const [last] = await ctx.db
        .select({ state: epilogueRuns.state })
        .from(epilogueRuns)
        .where(and(eq(epilogueRuns.taskId, task.id), eq(epilogueRuns.step, step)))
        .orderBy(desc(epilogueRuns.createdAt), desc(epilogueRuns.id))
        .limit(1);
      if (last?.state !== "succeeded") missing.push(`epilogue ${step} ${last ? "last failed" : "has not run"}`);
    }
    verdicts.push({ gate: "epilogue", required: true, passed: missing.length === 0, missing });
  }
  if (input.require_adversarial_proof) {
    const rows = await ctx.db
      .select({ evidence: acceptanceCriteria.evidence })
      .from(acceptanceCriteria)
      .where(and(eq(acceptanceCriteria.taskId, task.id), eq(acceptanceCriteria.status, "satisfied"), eq(acceptanceCriteria.evidenceType, "adversarial_check")))
      .limit(50);
    const proven = rows.some((r) => ADVERSARIAL_FIELDS.every((k) => typeof r.evidence?.[k] === "string" && (r.evidence[k] as string).trim() !== ""));
    verdicts.push({
      gate: "adversarial_proof",
      required: true,
      passed: proven,
      missing: proven ? [] : ["a satisfied criterion with adversarial_check evidence (failure_mode, check, result)"],
    });
  }
  return verdicts;
}

/**
 * Refuses (POLICY_REFUSED, audited as finish_refused) when any gate failed; the message and the
 * fields name every missing piece, so one refusal tells the manager all that is left.
 */
export async function assertGatesPass(ctx: Ctx, task: TaskRow, verdicts: Verdict[], action: string): Promise<void> {
  const failed = verdicts.filter((v) => !v.passed);
  if (!failed.length) return;
  const audit = auditInsert(ctx, { kind: "finish_refused", taskId: task.id, payload: { action, gates: verdicts } });
  await audit.stmt;
  throw new ApiError("POLICY_REFUSED", `${action} of task '${task.name}' refused: ${failed.map((f) => `${f.gate}: ${f.missing.join("; ")}`).join(" | ")}`, {
    hint: `See the ledger (switchyard criteria ${task.name} --list), acks (switchyard worker-ack ${task.name}) and epilogues (switchyard epilogue ${task.name} --list).`,
    fields: failed.map((f) => ({ field: `require_${f.gate}`, message: f.missing.join("; ") })),
  });
}
