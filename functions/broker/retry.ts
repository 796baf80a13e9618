import type { z } from "@hono/zod-openapi";
import { and, eq, inArray } from "drizzle-orm";
import { adviceRequests, brokerEvents, orchestratorJobs } from "../../schema/broker.ts";
import { events } from "../../schema/events.ts";
import { auditInsert } from "../lib/audit.ts";
import type { Ctx } from "../lib/ctx.ts";
import { ApiError } from "../lib/errors.ts";
import { txWithKey } from "../lib/idempotency.ts";
import { defineRoute, jsonBody, jsonResponse } from "../lib/route.ts";
import { loadAdvice } from "./lookup.ts";
import { AdviceIdParam, RetryBody, RetryResult } from "./schema.ts";
import { adviceToWire, brokerEventValues, researchPolicyOf } from "./wire.ts";

export const retryRoute = defineRoute(
  ["owner"],
  {
    method: "post",
    path: "/broker/advice/{id}/retry",
    tags: ["broker"],
    summary: "Owner re-queues a held or failed advice request, optionally with a different research policy",
    description:
      "Allowed from owner_input_required or failed. The job goes back to queued with fresh attempts; changing research_policy to allow is how the owner lets a request that needs current information be drafted. CLI: broker retry ID [--research allow|deny].",
    request: { params: AdviceIdParam, body: jsonBody(RetryBody) },
    responses: { 200: jsonResponse(RetryResult, "Re-queued") },
  },
  { idempotency: "atomic" },
);

const RETRYABLE = ["owner_input_required", "failed"] as const;

/** Puts a held or failed request back in the orchestrator's queue. */
export async function retryAdvice(ctx: Ctx, id: string, input: z.output<typeof RetryBody>, respond?: number): Promise<z.infer<typeof RetryResult>> {
  const { advice, job } = await loadAdvice(ctx, id);
  if (!(RETRYABLE as readonly string[]).includes(advice.state) || !job) {
    throw new ApiError("CONFLICT", `advice ${id} is ${advice.state}; only owner_input_required or failed advice can be retried`, {
      hint: `Review it: switchyard broker review ${id}`,
    });
  }
  const policy = input.research_policy ?? researchPolicyOf(advice);
  const nowMs = ctx.now().getTime();
  const audit = auditInsert(ctx, {
    kind: "advice_retried",
    sessionId: advice.requesterSessionId,
    payload: { advice_id: id, job_id: job.id, research_policy: policy, previous_state: advice.state },
  });
  const result = (r: { a: typeof adviceRequests.$inferSelect; j: typeof orchestratorJobs.$inferSelect }) => ({
    advice: adviceToWire(r.a, r.j),
    advice_id: id,
    job_id: job.id,
    event_id: audit.id,
  });
  const out = await txWithKey(
    ctx,
    async (tx) => {
      const [a] = await tx
        .update(adviceRequests)
        .set({ state: "queued", draftText: null, draftMeta: { research_policy: policy }, policyReason: null, error: null, updatedAt: nowMs })
        .where(and(eq(adviceRequests.id, id), inArray(adviceRequests.state, [...RETRYABLE])))
        .returning();
      if (!a) return null;
      // The generation is kept (and keeps counting): a processor still holding an old claim stays fenced out.
      const [j] = await tx
        .update(orchestratorJobs)
        .set({ state: "queued", attempts: 0, claimedBy: null, leaseExpiresAt: null, lastError: null, updatedAt: nowMs, finishedAt: null })
        .where(eq(orchestratorJobs.id, job.id))
        .returning();
      await tx.insert(brokerEvents).values(
        brokerEventValues(ctx, {
          kind: "advice_retried",
          adviceId: id,
          jobId: job.id,
          runId: advice.runId,
          payload: { research_policy: policy, previous_state: advice.state },
        }),
      );
      await tx.insert(events).values(audit.row);
      return { a, j: j! };
    },
    (r) => (r && respond ? { body: result(r), status: respond } : undefined),
  );
  if (!out) throw new ApiError("CONFLICT", `advice ${id} changed state while being retried`, { hint: `Review it again: switchyard broker review ${id}` });
  return result(out);
}
