import type { z } from "@hono/zod-openapi";
import { eq } from "drizzle-orm";
import { adviceRequests, brokerEvents, brokerRuns, orchestratorJobs, type AdviceRequestRow, type OrchestratorJobRow } from "../../schema/broker.ts";
import { messages } from "../../schema/messages.ts";
import { events } from "../../schema/events.ts";
import { auditInsert } from "../lib/audit.ts";
import type { Ctx } from "../lib/ctx.ts";
import { withWriteTransaction } from "../lib/db.ts";
import { ApiError, notFound } from "../lib/errors.ts";
import { defineRoute, jsonBody, jsonResponse } from "../lib/route.ts";
import { IngestBody, IngestResult, MessageIdParam } from "./schema.ts";
import { adviceToWire, brokerEventValues, type ResearchPolicy } from "./wire.ts";

export const ingestMessageRoute = defineRoute(["owner", "daemon"], {
  method: "post",
  path: "/broker/messages/{message_id}/ingest",
  tags: ["broker"],
  summary: "Turn one request message into an advice request and a queued orchestrator job",
  description:
    "Idempotent by source message: the first call creates the advice request (state queued) and its job (201); every later call returns the same request with already_ingested=true (200). research_policy defaults to deny. CLI: broker ingest-message ID.",
  request: { params: MessageIdParam, body: jsonBody(IngestBody) },
  responses: { 201: jsonResponse(IngestResult, "Ingested"), 200: jsonResponse(IngestResult, "Already ingested") },
});

/** Attempts a job gets before a job whose processor keeps dying is marked failed. */
export const DEFAULT_JOB_MAX_ATTEMPTS = 3;

/**
 * Creates exactly one advice request (and one queued job) per source message, ever: the unique
 * source_message_id index decides, so concurrent or repeated calls return the existing pair
 * flagged `already_ingested`. Only non-empty `request` messages qualify.
 */
export async function ingestMessage(
  ctx: Ctx,
  input: { messageId: string; researchPolicy?: ResearchPolicy; runId?: string | null },
): Promise<z.infer<typeof IngestResult>> {
  const [msg] = await ctx.db.select().from(messages).where(eq(messages.id, input.messageId)).limit(1);
  if (!msg) throw notFound("message", input.messageId, "Find request messages with `switchyard broker poll-messages --dry-run`.");
  if (msg.msgType !== "request") {
    throw new ApiError("NOT_ADVICE_REQUEST", `message '${msg.id}' is a ${msg.msgType}, not a request`, {
      hint: "Only msg_type=request messages become advice requests.",
    });
  }
  if (msg.body.trim() === "")
    throw new ApiError("NOT_ADVICE_REQUEST", `message '${msg.id}' has an empty body`, { hint: "Ask the sender to resend the request with a question." });
  const runId = input.runId ?? null;
  if (runId) {
    const [run] = await ctx.db.select({ id: brokerRuns.id }).from(brokerRuns).where(eq(brokerRuns.id, runId)).limit(1);
    if (!run) throw notFound("broker run", runId, "List runs with `switchyard broker runs`, or leave out the run to ingest without one.");
  }
  const nowMs = ctx.now().getTime();
  const advice: AdviceRequestRow = {
    id: ctx.newId("adv"),
    sourceMessageId: msg.id,
    threadId: msg.threadId,
    requesterSessionId: msg.fromSessionId,
    toSessionId: msg.toSessionId,
    project: msg.project,
    runId,
    state: "queued",
    requestText: msg.body,
    contextPacket: null,
    draftText: null,
    draftMeta: { research_policy: input.researchPolicy ?? "deny" },
    policyReason: null,
    approvedText: null,
    approvedBy: null,
    approvedAt: null,
    rejectedReason: null,
    rejectedAt: null,
    sentMessageId: null,
    sentAt: null,
    error: null,
    createdAt: nowMs,
    updatedAt: nowMs,
  };
  const job: OrchestratorJobRow = {
    id: ctx.newId("job"),
    adviceId: advice.id,
    state: "queued",
    attempts: 0,
    maxAttempts: DEFAULT_JOB_MAX_ATTEMPTS,
    claimedBy: null,
    claimGeneration: 0,
    leaseExpiresAt: null,
    lastError: null,
    createdAt: nowMs,
    updatedAt: nowMs,
    finishedAt: null,
  };
  return withWriteTransaction(ctx.db, async (tx) => {
    const [inserted] = await tx
      .insert(adviceRequests)
      .values(advice)
      .onConflictDoNothing({ target: adviceRequests.sourceMessageId })
      .returning({ id: adviceRequests.id });
    if (!inserted) {
      const [existing] = await tx.select().from(adviceRequests).where(eq(adviceRequests.sourceMessageId, msg.id)).limit(1);
      const [existingJob] = await tx.select().from(orchestratorJobs).where(eq(orchestratorJobs.adviceId, existing!.id)).limit(1);
      return { advice: adviceToWire(existing!, existingJob), advice_id: existing!.id, job_id: existingJob!.id, already_ingested: true };
    }
    await tx.insert(orchestratorJobs).values(job);
    await tx.insert(brokerEvents).values([
      brokerEventValues(ctx, {
        kind: "advice_ingested",
        adviceId: advice.id,
        jobId: job.id,
        runId,
        payload: { source_message_id: msg.id, thread_id: msg.threadId, research_policy: advice.draftMeta!.research_policy },
      }),
      brokerEventValues(ctx, { kind: "job_queued", adviceId: advice.id, jobId: job.id, runId, payload: { max_attempts: job.maxAttempts } }),
    ]);
    const audit = auditInsert(ctx, {
      kind: "advice_ingested",
      sessionId: msg.fromSessionId,
      payload: { advice_id: advice.id, job_id: job.id, source_message_id: msg.id, thread_id: msg.threadId, run_id: runId },
    });
    await tx.insert(events).values(audit.row);
    return { advice: adviceToWire(advice, job), advice_id: advice.id, job_id: job.id, already_ingested: false };
  });
}
