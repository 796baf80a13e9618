import type { z } from "@hono/zod-openapi";
import { and, eq, inArray } from "drizzle-orm";
import { adviceRequests, brokerEvents } from "../../schema/broker.ts";
import { events } from "../../schema/events.ts";
import { auditInsert } from "../lib/audit.ts";
import type { Ctx } from "../lib/ctx.ts";
import { ApiError } from "../lib/errors.ts";
import { txWithKey } from "../lib/idempotency.ts";
import { defineRoute, jsonBody, jsonResponse } from "../lib/route.ts";
import { loadAdvice } from "./lookup.ts";
import { AdviceIdParam, AdviceResult, RejectBody } from "./schema.ts";
import { adviceToWire, brokerEventValues } from "./wire.ts";
import { messages } from "../../schema/messages.ts";
import { deliveryMessageId } from "./send.ts";

export const rejectRoute = defineRoute(
  ["owner"],
  {
    method: "post",
    path: "/broker/advice/{id}/reject",
    tags: ["broker"],
    summary: "Owner rejects an advice request; it will never be sent",
    description: "Allowed from draft_ready, owner_input_required, failed or approved (not yet sent). CLI: broker reject ID --reason R.",
    request: { params: AdviceIdParam, body: jsonBody(RejectBody) },
    responses: { 200: jsonResponse(AdviceResult, "Rejected") },
  },
  { idempotency: "atomic" },
);

const REJECTABLE = ["draft_ready", "owner_input_required", "failed", "approved"] as const;

/** Closes an advice request without sending anything, recording the owner's reason. */
export async function rejectAdvice(ctx: Ctx, id: string, input: z.output<typeof RejectBody>, respond?: number): Promise<z.infer<typeof AdviceResult>> {
  const { advice, job } = await loadAdvice(ctx, id);
  if (!(REJECTABLE as readonly string[]).includes(advice.state)) {
    throw new ApiError("CONFLICT", `advice ${id} is ${advice.state} and can no longer be rejected`, {
      hint: advice.state === "queued" ? "Wait until it is drafted or held, then reject it." : "Sent and rejected advice is final.",
    });
  }
  const nowMs = ctx.now().getTime();
  const audit = auditInsert(ctx, { kind: "advice_rejected", sessionId: advice.requesterSessionId, payload: { advice_id: id, reason: input.reason } });
  const result = (updated: typeof adviceRequests.$inferSelect) => ({ advice: adviceToWire(updated, job), advice_id: id, event_id: audit.id });
  const row = await txWithKey(
    ctx,
    async (tx) => {
      // A send that delivered its reply but crashed before recording it must not be called
      // "never sent": the delivered reply decides.
      const [delivered] = await tx
        .select({ id: messages.id })
        .from(messages)
        .where(eq(messages.id, deliveryMessageId(id)))
        .limit(1);
      if (delivered) {
        throw new ApiError("CONFLICT", `advice ${id} was already delivered as reply ${delivered.id}`, {
          hint: `Record the send: switchyard broker send-approved ${id}`,
        });
      }
      const [updated] = await tx
        .update(adviceRequests)
        .set({ state: "rejected", rejectedReason: input.reason, rejectedAt: nowMs, updatedAt: nowMs })
        .where(and(eq(adviceRequests.id, id), inArray(adviceRequests.state, [...REJECTABLE])))
        .returning();
      if (!updated) return null;
      await tx.insert(brokerEvents).values(
        brokerEventValues(ctx, {
          kind: "advice_rejected",
          adviceId: id,
          jobId: job?.id,
          runId: advice.runId,
          payload: { reason: input.reason, previous_state: advice.state },
        }),
      );
      await tx.insert(events).values(audit.row);
      return updated;
    },
    (updated) => (updated && respond ? { body: result(updated), status: respond } : undefined),
  );
  if (!row) throw new ApiError("CONFLICT", `advice ${id} changed state while being rejected`, { hint: `Review it again: switchyard broker review ${id}` });
  return result(row);
}
