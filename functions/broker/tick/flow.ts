import type { z } from "@hono/zod-openapi";
import type { Ctx } from "../../lib/ctx.ts";
import { runOrchestratorOnce } from "../../orchestrator/watch.ts";
import type { ProcessedJob } from "../../orchestrator/schema.ts";
import { ingestMessage } from "../ingest.ts";
import { pollMessages } from "../poll.ts";
import type { Candidate } from "../schema.ts";

/**
 * The advice-flow steps a tick drives. The tick decides how much of each step a run's budget
 * allows; the steps themselves (poll, ingest, policy, context, drafting) belong to the broker
 * and orchestrator modules. Tests replace them to make a step fail or repeat on demand.
 */
export interface AdviceFlow {
  /** Request messages not yet ingested that match the filter, oldest first. */
  candidates(ctx: Ctx, filter: { project?: string; to_session?: string; limit: number }): Promise<z.infer<typeof Candidate>[]>;
  /** Ingests one message (idempotent), attributed to `runId` when given. */
  ingest(ctx: Ctx, messageId: string, runId: string | null): Promise<{ advice_id: string; job_id: string; already_ingested: boolean }>;
  /** Processes up to `maxJobs` queued jobs (only the run's when `runId` is given) to a final state. */
  draft(ctx: Ctx, opts: { runId: string | null; maxJobs: number; processorId: string }): Promise<z.infer<typeof ProcessedJob>[]>;
}

/** The real flow: the broker's poll and ingest and one orchestrator pass. */
export const brokerFlow: AdviceFlow = {
  async candidates(ctx, filter) {
    return (await pollMessages(ctx, { ...filter, dry_run: true })).candidates;
  },
  ingest(ctx, messageId, runId) {
    return ingestMessage(ctx, { messageId, runId });
  },
  async draft(ctx, opts) {
    return (await runOrchestratorOnce(ctx, { processorId: opts.processorId, maxJobs: opts.maxJobs, runId: opts.runId ?? undefined })).processed;
  },
};
