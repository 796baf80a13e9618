import type { z } from "@hono/zod-openapi";
import { and, eq, inArray } from "drizzle-orm";
import { adviceRequests, brokerEvents } from "../../schema/broker.ts";
import { events } from "../../schema/events.ts";
import { auditInsert } from "../lib/audit.ts";
import { actorOf, type Ctx } from "../lib/ctx.ts";
import { ApiError } from "../lib/errors.ts";
import { txWithKey } from "../lib/idempotency.ts";
import { defineRoute, jsonBody, jsonResponse } from "../lib/route.ts";
import { loadAdvice } from "./lookup.ts";
import { AdviceIdParam, AdviceResult, ApproveBody } from "./schema.ts";
import { adviceToWire, brokerEventValues } from "./wire.ts";

export const approveRoute = defineRoute(
  ["owner"],
  {
    method: "post",
    path: "/broker/advice/{id}/approve",
    tags: ["broker"],
    summary: "Owner approves a draft (optionally replacing it with edit); approval does not send",
    description:
      "Allowed from draft_ready, or from owner_input_required when edit supplies the text. Only the owner may approve. CLI: broker approve ID [--edit TEXT].",
    request: { params: AdviceIdParam, body: jsonBody(ApproveBody) },
    responses: { 200: jsonResponse(AdviceResult, "Approved") },
  },
  { idempotency: "atomic" },
);

const APPROVABLE = ["draft_ready", "owner_input_required"] as const;

/**
 * Records the owner's approval of the draft, or of their edited text; sending is a separate step.
 * `respond` is the route's status, stored with the request's Idempotency-Key in the transaction.
 */
export async function approveAdvice(ctx: Ctx, id: string, input: z.output<typeof ApproveBody>, respond?: number): Promise<z.infer<typeof AdviceResult>> {
  const { advice, job } = await loadAdvice(ctx, id);
  const text = input.edit ?? advice.draftText;
  if (!(APPROVABLE as readonly string[]).includes(advice.state)) {
    throw new ApiError("CONFLICT", `advice ${id} is ${advice.state}; only draft_ready or owner_input_required advice can be approved`, {
      hint: advice.state === "queued" ? "Wait for the draft: `switchyard orchestrator watch --once`." : `Review it: switchyard broker review ${id}`,
    });
  }
  if (!text)
    throw new ApiError("VALIDATION_FAILED", `advice ${id} has no draft to approve`, {
      hint: "Approve with --edit TEXT to supply the advice yourself.",
      fields: [{ field: "edit", message: "required when there is no draft" }],
    });
  const nowMs = ctx.now().getTime();
  const audit = auditInsert(ctx, {
    kind: "advice_approved",
    sessionId: advice.requesterSessionId,
    payload: { advice_id: id, edited: input.edit !== undefined, text },
  });
  const result = (updated: typeof adviceRequests.$inferSelect) => ({ advice: adviceToWire(updated, job), advice_id: id, event_id: audit.id });
  const row = await txWithKey(
    ctx,
    async (tx) => {
      const [updated] = await tx
        .update(adviceRequests)
        .set({ state: "approved", approvedText: text, approvedBy: actorOf(ctx.auth), approvedAt: nowMs, updatedAt: nowMs })
        .where(and(eq(adviceRequests.id, id), inArray(adviceRequests.state, [...APPROVABLE])))
        .returning();
      if (!updated) return null;
      await tx.insert(brokerEvents).values(
        brokerEventValues(ctx, {
          kind: "advice_approved",
          adviceId: id,
          jobId: job?.id,
          runId: advice.runId,
          payload: { approved_by: updated.approvedBy, edited: input.edit !== undefined, chars: text.length },
        }),
      );
      await tx.insert(events).values(audit.row);
      return updated;
    },
    (updated) => (updated && respond ? { body: result(updated), status: respond } : undefined),
  );
  if (!row) throw new ApiError("CONFLICT", `advice ${id} changed state while being approved`, { hint: `Review it again: switchyard broker review ${id}` });
  return result(row);
}
