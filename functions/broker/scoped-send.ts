import type { z } from "@hono/zod-openapi";
import { and, eq } from "drizzle-orm";
import { adviceRequests } from "../../schema/broker.ts";
import type { Ctx } from "../lib/ctx.ts";
import { withWriteTransaction } from "../lib/db.ts";
import { ApiError } from "../lib/errors.ts";
import { consumeApprovalTokenIn, hashTokenScope, type DbOrTx } from "./approval-tokens.ts";
import { loadAdvice } from "./lookup.ts";
import { defineRoute, jsonBody, jsonResponse } from "../lib/route.ts";
import { AdviceIdParam, ScopedSendBody, ScopedSendResult } from "./schema.ts";
import { reserveRunSendIn } from "./runs/send-budget.ts";
import { deliverAdvice, markSent } from "./send.ts";
import { adviceToWire, tokenToWire } from "./wire.ts";

export const scopedSendRoute = defineRoute(["owner", "daemon"], {
  method: "post",
  path: "/broker/advice/{id}/send-with-token",
  tags: ["broker"],
  summary: "Send drafted advice of a scoped_auto_send run on the strength of an approval token, using one of its uses",
  description:
    "The unattended send path: the owner minted the token for exactly this run, recipient and thread (broker token-create); the daemon (or the owner) presents its secret. One use is consumed atomically with the approval, so no number of concurrent senders passes max_uses. A refused token answers 422 APPROVAL_TOKEN_INVALID with the reason (missing, revoked, expired, overused, run_mismatch, session_mismatch, thread_mismatch, wrong_run_mode, run_not_running) in fields, and nothing is sent or used. Advice sent before answers already_sent=true and uses nothing. Sessions and runners may not send. CLI: broker send-with-token ADVICE --run-id R --token SECRET.",
  request: { params: AdviceIdParam, body: jsonBody(ScopedSendBody) },
  responses: { 200: jsonResponse(ScopedSendResult, "Sent (or already sent)") },
});

/**
 * The scoped auto-send path of a scoped_auto_send run: sends a drafted (or owner-approved)
 * advice request without the owner at the keyboard, but only on the strength of an approval
 * token the owner minted for exactly this run, recipient and thread. One use is consumed
 * atomically with the approval; any refusal (see consumeApprovalToken) throws
 * APPROVAL_TOKEN_INVALID naming the reason and sends nothing. Advice that was already sent is
 * answered as such without touching the token.
 */
export async function sendWithApprovalToken(ctx: Ctx, input: { adviceId: string; runId: string; secret: string }): Promise<z.infer<typeof ScopedSendResult>> {
  const { advice, job } = await loadAdvice(ctx, input.adviceId);
  if (advice.state === "sent") {
    return {
      advice: adviceToWire(advice, job),
      advice_id: advice.id,
      message_id: advice.sentMessageId!,
      inbox_item_id: null,
      already_sent: true,
      token_id: null,
      token: null,
    };
  }
  if (advice.runId !== input.runId) {
    throw new ApiError("CONFLICT", `advice ${advice.id} does not belong to run ${input.runId}`, { hint: "A run may auto-send only the requests it ingested." });
  }
  if (advice.state !== "draft_ready" && advice.state !== "approved") {
    throw new ApiError("CONFLICT", `advice ${advice.id} is ${advice.state}; only drafted or approved advice can be sent`, {
      hint: `Review it: switchyard broker review ${advice.id}`,
    });
  }
  if (!advice.requesterSessionId) {
    throw new ApiError("CONFLICT", `advice ${advice.id} has no requesting session to send to`, { hint: "It needs the owner's decision." });
  }
  // Hashed before the transaction opens, so the write lock is never held across the digest.
  const scope = await hashTokenScope({ secret: input.secret, runId: input.runId, toSession: advice.requesterSessionId, threadId: advice.threadId });
  const taken = await withWriteTransaction(ctx.db, async (tx) => {
    const verdict = await consumeApprovalTokenIn(ctx, tx as unknown as DbOrTx, scope, advice.id);
    if (!verdict.ok) return { verdict, approved: null };
    // The run's send budget is reserved with the token use: a budget refusal throws and gives
    // the use back, where reserving at delivery would leave it spent with nothing sent.
    await reserveRunSendIn(ctx, tx, { runId: advice.runId, threadId: advice.threadId, adviceId: advice.id });
    const nowMs = ctx.now().getTime();
    const [approved] = await tx
      .update(adviceRequests)
      .set(
        advice.state === "draft_ready"
          ? { state: "approved", approvedText: advice.draftText, approvedBy: `approval_token:${verdict.token.id}`, approvedAt: nowMs, updatedAt: nowMs }
          : { updatedAt: nowMs },
      )
      // Only from the state this send read: an owner's approval (an edit, say) that committed in
      // between must not be replaced by the draft under the token's name.
      .where(and(eq(adviceRequests.id, advice.id), eq(adviceRequests.state, advice.state)))
      .returning();
    // Losing the advice to a concurrent change must give the use back: throwing rolls it back.
    if (!approved)
      throw new ApiError("CONFLICT", `advice ${advice.id} changed state while being sent`, { hint: `Review it: switchyard broker review ${advice.id}` });
    return { verdict, approved };
  });
  if (!taken.verdict.ok) {
    throw new ApiError("APPROVAL_TOKEN_INVALID", `approval token refused: ${taken.verdict.reason}`, {
      hint: "The send failed closed; nothing was sent. Check it with `switchyard broker token-check`.",
      fields: [{ field: "approval_token", message: taken.verdict.reason }],
    });
  }
  const approved = taken.approved!;
  const delivery = await deliverAdvice(ctx, approved, approved.approvedText!);
  const sent = await markSent(ctx, approved, delivery, { approval_token_id: taken.verdict.token.id });
  const final = sent ?? (await loadAdvice(ctx, advice.id)).advice;
  return {
    advice: adviceToWire(final, job),
    advice_id: advice.id,
    message_id: delivery.messageId,
    inbox_item_id: delivery.inboxItemId,
    already_sent: !delivery.delivered,
    token_id: taken.verdict.token.id,
    token: tokenToWire(taken.verdict.token),
  };
}
