import type { z } from "@hono/zod-openapi";
import { eq } from "drizzle-orm";
import { adviceRequests } from "../../schema/broker.ts";
import { buildContextPacket } from "../broker/context.ts";
import { draftAdvice, type DrafterChoice } from "../broker/drafter.ts";
import { evaluatePolicy } from "../broker/policy.ts";
import type { Ctx } from "../lib/ctx.ts";
import { defineRoute, jsonBody, jsonResponse } from "../lib/route.ts";
import { claimNextJob, failExhaustedJobs, finishJob, hasOrchestratorWork, type JobClaim, type JobOutcome } from "./claim.ts";
import { type ProcessedJob, WatchBody, WatchResult } from "./schema.ts";

export const watchRoute = defineRoute(
  ["owner", "daemon"],
  {
    method: "post",
    path: "/orchestrator/watch",
    tags: ["orchestrator"],
    summary: "One processing pass: claim queued (or crashed) jobs under a lease and take each to draft_ready, owner_input_required or failed",
    description:
      "Each job is claimed with a fencing generation, so two processors never work on the same job; a job whose lease expired while running is retried up to max_attempts, then failed. CLI: orchestrator watch --once.",
    request: { body: jsonBody(WatchBody) },
    responses: { 200: jsonResponse(WatchResult, "What this pass did") },
  },
  { rateLimited: true, deadline: "own" },
);

/**
 * Takes one claimed job through context, policy and drafting, then records the outcome under
 * the claim. A drafter that fails, times out or answers garbage fails the job with its error;
 * the policy layer holds a request for the owner before any drafter sees it.
 */
export async function processJob(ctx: Ctx, claim: JobClaim, opts: { drafter?: DrafterChoice } = {}): Promise<z.infer<typeof ProcessedJob>> {
  const [advice] = await ctx.db.select().from(adviceRequests).where(eq(adviceRequests.id, claim.job.adviceId)).limit(1);
  let outcome: JobOutcome;
  if (!advice) {
    outcome = { state: "failed", contextPacket: null, error: `advice request ${claim.job.adviceId} no longer exists` };
  } else {
    let contextPacket: Record<string, unknown> | null = null;
    try {
      contextPacket = await buildContextPacket(ctx, advice);
      const verdict = await evaluatePolicy(ctx, advice);
      if (!verdict.ok) outcome = { state: "owner_input_required", contextPacket, policyReason: verdict.reason, draftMeta: { policy_block: verdict.block } };
      else {
        const draft = await draftAdvice(contextPacket, ctx.drafter, opts.drafter);
        outcome = { state: "draft_ready", contextPacket, draftText: draft.text, draftMeta: draft.meta };
      }
    } catch (e) {
      // Any problem — assembling context, evaluating policy or drafting — must surface as a
      // failed job with its error, never a job stuck running or an empty draft.
      outcome = { state: "failed", contextPacket, error: (e as Error).message || String(e) };
    }
  }
  const held = await finishJob(ctx, claim, outcome);
  return {
    job_id: claim.job.id,
    advice_id: claim.job.adviceId,
    attempt: claim.job.attempts,
    state: held ? outcome.state : "running",
    claim_lost: !held,
    policy_reason: outcome.policyReason ?? null,
    error: outcome.error ?? null,
  };
}

/** Options of one orchestrator pass. */
export interface OrchestratorPassOptions {
  processorId?: string;
  leaseSeconds?: number;
  maxJobs?: number;
  drafter?: DrafterChoice;
  /** Only jobs of advice requests attributed to this broker run; without it, only jobs of no run. */
  runId?: string;
}

/**
 * One pass of the orchestrator: fails jobs that crashed on their last attempt, then claims and
 * processes jobs one at a time until none is claimable or `maxJobs` were handled. Safe to run
 * from several processes at once; the broker tick calls this.
 */
export async function runOrchestratorOnce(ctx: Ctx, opts: OrchestratorPassOptions = {}): Promise<z.infer<typeof WatchResult>> {
  const processorId = opts.processorId ?? ctx.newId("prc");
  if (!(await hasOrchestratorWork(ctx, opts.runId))) return { processor_id: processorId, processed: [], exhausted: [], count: 0 };
  const exhausted = await failExhaustedJobs(ctx);
  const processed: z.infer<typeof ProcessedJob>[] = [];
  const maxJobs = opts.maxJobs ?? 50;
  while (processed.length < maxJobs) {
    const claim = await claimNextJob(ctx, { processorId, leaseMs: (opts.leaseSeconds ?? 120) * 1000, runId: opts.runId });
    if (!claim) break;
    processed.push(await processJob(ctx, claim, { drafter: opts.drafter }));
  }
  return { processor_id: processorId, processed, exhausted, count: processed.length };
}

/** The route's input mapped onto a pass. */
export function watchOnce(ctx: Ctx, input: z.output<typeof WatchBody>) {
  return runOrchestratorOnce(ctx, {
    processorId: input.processor_id,
    leaseSeconds: input.lease_seconds,
    maxJobs: input.max_jobs,
    drafter: input.drafter,
    runId: input.run_id,
  });
}
