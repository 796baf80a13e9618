import type { z } from "@hono/zod-openapi";
import { eq } from "drizzle-orm";
import { patrolRuns, patrolSteps, type PatrolRunRow, type PatrolStepRow, type PatrolStepState } from "../../schema/patrol.ts";
import { auditInsert } from "../lib/audit.ts";
import { actorOf, type Ctx } from "../lib/ctx.ts";
import { ApiError } from "../lib/errors.ts";
import { defineRoute, jsonBody, jsonResponse } from "../lib/route.ts";
import { STEP_DAG, STEP_IDS, type StepFn, type StepId } from "./dag.ts";
import { PatrolRunDetail, PatrolRunBody } from "./schema.ts";
import { beat, configOf, patrolRow, releaseLease, takeLease } from "./state.ts";
import { STEPS } from "./steps.ts";
import { runToWire } from "./wire.ts";

export const runPatrolRoute = defineRoute(
  ["owner", "daemon"],
  {
    method: "post",
    path: "/patrol/runs",
    tags: ["patrol"],
    summary: "Run the patrol once (all steps, or one with `step`)",
    description:
      "Runs the step DAG in order: a step whose `needs` failed or was skipped is skipped with the reason; independent steps still run. Every run and step result is recorded. `apply` (owner only) lets orphan-check act per the orphan policy. Refused with CONFLICT while another run holds the patrol lease. CLI: patrol run [--once] [--step S] [--apply].",
    request: { body: { ...jsonBody(PatrolRunBody), required: false } },
    responses: { 201: jsonResponse(PatrolRunDetail, "The finished run with its step results") },
  },
  { rateLimited: true, deadline: "own" },
);

/** How a run was started; recorded on the run row. */
export type PatrolTrigger = "cron" | "cli" | "api" | "watch";

/** Options of one patrol run. */
export interface RunPatrolOptions {
  trigger: PatrolTrigger;
  step?: StepId;
  apply?: boolean;
  /** Replaces step implementations (tests inject a failing step). */
  impls?: Partial<Record<StepId, StepFn>>;
}

/** Why a step's needs keep it from running, or null when it may run. */
function blockedBy(step: StepId, results: Map<StepId, PatrolStepState>): string | null {
  for (const need of STEP_DAG[step].needs) {
    const r = results.get(need);
    if (r === "failed") return `needs ${need}, which failed`;
    if (r === "skipped") return `needs ${need}, which was skipped`;
  }
  return null;
}

/**
 * One patrol run. Takes the lease (one run at a time across processes), records the run, then
 * runs each step in DAG order with its own error boundary: a failure is recorded and only the
 * steps that need it are skipped. The heartbeat is written at the start and after every step,
 * so a watcher sees both a dead patrol and one stuck in a step.
 */
export async function runPatrol(ctx: Ctx, opts: RunPatrolOptions) {
  if (opts.apply && ctx.auth.kind !== "owner") {
    throw new ApiError("FORBIDDEN", "only the owner may run the patrol with apply", { hint: "Leave out apply: a scheduled patrol only reports orphans." });
  }
  const runId = ctx.newId("prn");
  if (!(await takeLease(ctx, runId))) {
    const row = await patrolRow(ctx);
    throw new ApiError("CONFLICT", `another patrol run (${row.leaseHolder}) is in progress`, {
      hint: `Wait for it to finish (its lease runs out at ${new Date(row.leaseExpiresAt ?? 0).toISOString()}), then run again.`,
    });
  }
  const startedAt = ctx.now().getTime();
  const run: PatrolRunRow = {
    id: runId,
    trigger: opts.trigger,
    actor: actorOf(ctx.auth),
    onlyStep: opts.step ?? null,
    apply: opts.apply ?? false,
    state: "running",
    stepsSucceeded: 0,
    stepsFailed: 0,
    stepsSkipped: 0,
    error: null,
    startedAt,
    finishedAt: null,
  };
  const steps: PatrolStepRow[] = [];
  try {
    await ctx.db.insert(patrolRuns).values(run);
    const config = configOf(await patrolRow(ctx));
    const impls = { ...STEPS, ...opts.impls };
    const results = new Map<StepId, PatrolStepState>();
    const selected = opts.step ? [opts.step] : [...STEP_IDS];
    for (const [ordinal, step] of selected.entries()) {
      const t0 = ctx.now().getTime();
      // A single requested step runs on its own: its needs are taken as met.
      const blocked = opts.step ? null : blockedBy(step, results);
      let state: PatrolStepState;
      let reason: string | null = null;
      let report: Record<string, unknown> | null = null;
      if (blocked) {
        state = "skipped";
        reason = blocked;
      } else {
        await beat(ctx, runId, step);
        try {
          report = await impls[step]({ ctx, runId, config, apply: run.apply });
          state = "succeeded";
        } catch (e) {
          state = "failed";
          reason = e instanceof Error ? e.message : String(e);
          ctx.log.error("patrol step failed", { run_id: runId, step, error: reason });
        }
      }
      results.set(step, state);
      const row: PatrolStepRow = { id: ctx.newId("pst"), runId, ordinal, step, state, reason, report, startedAt: t0, finishedAt: ctx.now().getTime() };
      await ctx.db.insert(patrolSteps).values(row);
      steps.push(row);
    }
    run.stepsSucceeded = steps.filter((s) => s.state === "succeeded").length;
    run.stepsFailed = steps.filter((s) => s.state === "failed").length;
    run.stepsSkipped = steps.filter((s) => s.state === "skipped").length;
    run.state = run.stepsFailed ? "failed" : "succeeded";
  } catch (e) {
    run.state = "failed";
    run.error = e instanceof Error ? e.message : String(e);
  } finally {
    run.finishedAt = ctx.now().getTime();
    const audit = auditInsert(ctx, {
      kind: "patrol_run",
      payload: { run_id: runId, trigger: run.trigger, state: run.state, only_step: run.onlyStep, failed: run.stepsFailed, skipped: run.stepsSkipped },
    });
    await ctx.db.batch([
      ctx.db
        .update(patrolRuns)
        .set({
          state: run.state,
          stepsSucceeded: run.stepsSucceeded,
          stepsFailed: run.stepsFailed,
          stepsSkipped: run.stepsSkipped,
          error: run.error,
          finishedAt: run.finishedAt,
        })
        .where(eq(patrolRuns.id, runId)),
      audit.stmt,
    ]);
    await releaseLease(ctx, runId);
  }
  return runToWire(run, steps);
}

/** The body of POST /patrol/runs. */
export type PatrolRunInput = z.output<typeof PatrolRunBody>;
