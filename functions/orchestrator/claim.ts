import { and, eq, inArray, lte, sql, type SQL } from "drizzle-orm";
import { adviceRequests, brokerEvents, orchestratorJobs, type AdviceState, type JobState, type OrchestratorJobRow } from "../../schema/broker.ts";
import { brokerEventValues } from "../broker/wire.ts";
import type { Ctx } from "../lib/ctx.ts";
import { withWriteTransaction } from "../lib/db.ts";

/** Default lease of a claimed job; a processor that outlives it loses the job to the next one. */
export const DEFAULT_JOB_LEASE_MS = 120_000;

/** A live claim on a job: the row as claimed and the fencing generation it holds. */
export interface JobClaim {
  job: OrchestratorJobRow;
  processorId: string;
  generation: number;
}

/**
 * A job may be claimed when it is queued, or when it is running under a lease that ran out
 * (its processor crashed) and it still has attempts left.
 */
function claimable(nowMs: number): SQL {
  return sql`(${orchestratorJobs.state} = 'queued' OR (${orchestratorJobs.state} = 'running' AND ${orchestratorJobs.leaseExpiresAt} <= ${nowMs} AND ${orchestratorJobs.attempts} < ${orchestratorJobs.maxAttempts}))`;
}

/** Restricts to jobs whose advice request belongs to `runId`. */
function ofRun(runId: string): SQL {
  return inArray(orchestratorJobs.adviceId, sql`(SELECT ${adviceRequests.id} FROM ${adviceRequests} WHERE ${adviceRequests.runId} = ${runId})`);
}

/**
 * Restricts to jobs whose advice request belongs to no run. A run's requests are drafted only
 * under that run — its own ticks, within its budgets and lease, or a pass that names it — never
 * by a run-less pass. One primary-key probe per candidate job.
 */
function ofNoRun(): SQL {
  return sql`NOT EXISTS (SELECT 1 FROM ${adviceRequests} WHERE ${adviceRequests.id} = ${orchestratorJobs.adviceId} AND ${adviceRequests.runId} IS NOT NULL)`;
}

/**
 * The id of the oldest claimable job in `runScope`: the oldest queued one and the oldest expired
 * running one, each read in order off (state, created_at, id), then the older of the two. One
 * ORDER BY over claimable()'s OR sorted every open job of every run on each claim.
 */
function oldestClaimable(nowMs: number, runScope: SQL): SQL {
  const j = orchestratorJobs;
  const arm = (state: SQL) =>
    sql`SELECT * FROM (SELECT ${j.id} AS "id", ${j.createdAt} AS "created_at" FROM ${j} WHERE ${state} AND ${runScope} ORDER BY ${j.createdAt}, ${j.id} LIMIT 1)`;
  const queued = arm(sql`${j.state} = 'queued'`);
  const expired = arm(sql`${j.state} = 'running' AND ${j.leaseExpiresAt} <= ${nowMs} AND ${j.attempts} < ${j.maxAttempts}`);
  // min() takes its bare column from the row it picks (SQLite): the older of at most two rows,
  // with no sort; two arms tied to the millisecond are both claimable, either will do.
  return sql`SELECT "id" FROM (SELECT "id", min("created_at") FROM (${queued} UNION ALL ${expired}))`;
}

/**
 * Whether a pass has anything to do: a job that crashed on its last attempt, or a claimable one
 * in scope. One read, no write: an idle pass (what a polling watch mostly is) then opens no
 * transaction. A job that turns up after this read is the next pass's.
 */
export async function hasOrchestratorWork(ctx: Ctx, runId?: string): Promise<boolean> {
  const nowMs = ctx.now().getTime();
  const j = orchestratorJobs;
  const exhausted = sql`EXISTS (SELECT 1 FROM ${j} WHERE ${j.state} = 'running' AND ${j.leaseExpiresAt} <= ${nowMs} AND ${j.attempts} >= ${j.maxAttempts})`;
  const [row] = await ctx.db.all<{ work: number }>(
    sql`SELECT ${exhausted} OR (${oldestClaimable(nowMs, runId ? ofRun(runId) : ofNoRun())}) IS NOT NULL AS "work"`,
  );
  return Boolean(row?.work);
}

/**
 * Claims the oldest claimable job with one conditional UPDATE: the generation increments, so a
 * processor whose lease ran out can no longer finish the job once someone else claimed it.
 * With `runId`, only that run's jobs; without, only jobs that belong to no run. Null when there
 * is nothing to claim (or another processor won every candidate).
 */
export async function claimNextJob(ctx: Ctx, opts: { processorId: string; leaseMs?: number; runId?: string }): Promise<JobClaim | null> {
  const nowMs = ctx.now().getTime();
  const runScope = opts.runId ? ofRun(opts.runId) : ofNoRun();
  const scope = and(claimable(nowMs), runScope)!;
  // The claim and its event commit together, so a crash cannot leave a claim without its event.
  const claimed = await withWriteTransaction(ctx.db, async (tx) => {
    const next = oldestClaimable(nowMs, runScope);
    const [row] = await tx
      .update(orchestratorJobs)
      .set({
        state: "running",
        claimedBy: opts.processorId,
        claimGeneration: sql`${orchestratorJobs.claimGeneration} + 1`,
        attempts: sql`${orchestratorJobs.attempts} + 1`,
        leaseExpiresAt: nowMs + (opts.leaseMs ?? DEFAULT_JOB_LEASE_MS),
        updatedAt: nowMs,
      })
      .where(and(eq(orchestratorJobs.id, sql`(${next})`), scope))
      .returning();
    if (!row) return null;
    await tx.insert(brokerEvents).values(
      brokerEventValues(ctx, {
        kind: row.attempts > 1 ? "job_reclaimed" : "job_claimed",
        jobId: row.id,
        adviceId: row.adviceId,
        payload: { processor_id: opts.processorId, claim_generation: row.claimGeneration, attempt: row.attempts },
      }),
    );
    return row;
  });
  if (!claimed) return null;
  return { job: claimed, processorId: opts.processorId, generation: claimed.claimGeneration };
}

/** How a processed job ends, and what goes onto its advice request. */
export interface JobOutcome {
  state: Extract<JobState, "draft_ready" | "owner_input_required" | "failed">;
  contextPacket: Record<string, unknown> | null;
  draftText?: string | null;
  draftMeta?: Record<string, unknown>;
  policyReason?: string | null;
  error?: string | null;
}

/**
 * Finishes a claimed job and writes the outcome onto its advice request, in one transaction and
 * only while the claim still holds (running under this generation). False means the claim was
 * lost — another processor reclaimed the job after this one's lease ran out — and nothing was
 * written: the newer claim's result stands.
 */
export async function finishJob(ctx: Ctx, claim: JobClaim, outcome: JobOutcome): Promise<boolean> {
  const nowMs = ctx.now().getTime();
  return withWriteTransaction(ctx.db, async (tx) => {
    const [done] = await tx
      .update(orchestratorJobs)
      .set({ state: outcome.state, leaseExpiresAt: null, lastError: outcome.error ?? null, updatedAt: nowMs, finishedAt: nowMs })
      .where(and(eq(orchestratorJobs.id, claim.job.id), eq(orchestratorJobs.state, "running"), eq(orchestratorJobs.claimGeneration, claim.generation)))
      .returning({ id: orchestratorJobs.id });
    if (!done) return false;
    const [advice] = await tx.select().from(adviceRequests).where(eq(adviceRequests.id, claim.job.adviceId)).limit(1);
    await tx
      .update(adviceRequests)
      .set({
        state: outcome.state as AdviceState,
        contextPacket: outcome.contextPacket,
        draftText: outcome.draftText ?? null,
        // Keep the request's inputs (research policy) next to what the drafter reports.
        draftMeta: { ...(advice?.draftMeta ?? {}), ...(outcome.draftMeta ?? {}) },
        policyReason: outcome.policyReason ?? null,
        error: outcome.error ?? null,
        updatedAt: nowMs,
      })
      .where(and(eq(adviceRequests.id, claim.job.adviceId), eq(adviceRequests.state, "queued")));
    const kind = outcome.state === "draft_ready" ? "draft_ready" : outcome.state === "owner_input_required" ? "owner_input_required" : "job_failed";
    await tx.insert(brokerEvents).values(
      brokerEventValues(ctx, {
        kind,
        jobId: claim.job.id,
        adviceId: claim.job.adviceId,
        runId: advice?.runId ?? null,
        payload: {
          processor_id: claim.processorId,
          claim_generation: claim.generation,
          attempt: claim.job.attempts,
          ...(outcome.policyReason ? { policy_reason: outcome.policyReason } : {}),
          ...(outcome.error ? { error: outcome.error } : {}),
          ...(outcome.draftMeta ? { drafter: outcome.draftMeta.drafter ?? null, draft_chars: outcome.draftText?.length ?? 0 } : {}),
        },
      }),
    );
    return true;
  });
}

/**
 * Fails jobs whose processor died on their last allowed attempt (running, lease expired,
 * attempts used up), together with their advice requests. Returns the failed job ids.
 */
export async function failExhaustedJobs(ctx: Ctx): Promise<string[]> {
  const nowMs = ctx.now().getTime();
  return withWriteTransaction(ctx.db, async (tx) => {
    const failed = await tx
      .update(orchestratorJobs)
      .set({
        state: "failed",
        lastError: sql`'lease expired on attempt ' || ${orchestratorJobs.attempts} || ' of ' || ${orchestratorJobs.maxAttempts} || ': the processor stopped before finishing'`,
        leaseExpiresAt: null,
        updatedAt: nowMs,
        finishedAt: nowMs,
      })
      .where(
        and(
          eq(orchestratorJobs.state, "running"),
          lte(orchestratorJobs.leaseExpiresAt, nowMs),
          sql`${orchestratorJobs.attempts} >= ${orchestratorJobs.maxAttempts}`,
        ),
      )
      .returning();
    for (const job of failed) {
      await tx
        .update(adviceRequests)
        .set({ state: "failed", error: job.lastError, updatedAt: nowMs })
        .where(and(eq(adviceRequests.id, job.adviceId), eq(adviceRequests.state, "queued")));
      await tx
        .insert(brokerEvents)
        .values(
          brokerEventValues(ctx, { kind: "job_failed", jobId: job.id, adviceId: job.adviceId, payload: { error: job.lastError, attempt: job.attempts } }),
        );
    }
    return failed.map((j) => j.id);
  });
}
