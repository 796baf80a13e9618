import type { z } from "@hono/zod-openapi";
import { and, eq, sql } from "drizzle-orm";
import { adviceRequests, brokerEvents, type AdviceRequestRow } from "../../schema/broker.ts";
import { inboxItems, messages, type MessageRow } from "../../schema/messages.ts";
import { events } from "../../schema/events.ts";
import { sessions } from "../../schema/sessions.ts";
import { postMessage } from "../messages/message-post.ts";
import { auditInsert } from "../lib/audit.ts";
import { actorOf, type Ctx } from "../lib/ctx.ts";
import { withWriteTransaction } from "../lib/db.ts";
import { ApiError } from "../lib/errors.ts";
import { defineRoute, jsonResponse } from "../lib/route.ts";
import { isUniqueViolation } from "../lib/sql.ts";
import { loadAdvice } from "./lookup.ts";
import { reserveRunSend } from "./runs/send-budget.ts";
import { AdviceIdParam, SendResult } from "./schema.ts";
import { adviceToWire, brokerEventValues } from "./wire.ts";

export const sendApprovedRoute = defineRoute(["owner"], {
  method: "post",
  path: "/broker/advice/{id}/send-approved",
  tags: ["broker"],
  summary: "Owner sends approved advice as a reply in the requester's thread (their inbox), exactly once",
  description:
    "Refused unless the advice is approved. A second call returns the first delivery with already_sent=true and creates no second message. Only the owner may send. CLI: broker send-approved ID.",
  request: { params: AdviceIdParam },
  responses: { 200: jsonResponse(SendResult, "Sent (or already sent)") },
});

/**
 * The id of the reply that delivers an advice request. Deriving it from the advice id is what
 * makes delivery exactly-once: a second attempt (a retry, a racing sender, a crash between
 * delivering and recording) hits the messages primary key instead of writing a second reply.
 */
export function deliveryMessageId(adviceId: string): string {
  return `msg_${adviceId}`;
}

/**
 * Puts `text` into the requester's inbox as a reply on the request's thread, from the session
 * the request was addressed to. Idempotent per advice request (see deliveryMessageId). The first
 * delivery of advice that belongs to a run reserves one unit of the run's send budget.
 * `delivered` is false when an earlier attempt had already delivered it.
 */
export async function deliverAdvice(
  ctx: Ctx,
  advice: AdviceRequestRow,
  text: string,
): Promise<{ messageId: string; inboxItemId: string | null; delivered: boolean }> {
  const messageId = deliveryMessageId(advice.id);
  const earlier = async () => {
    const [item] = await ctx.db.select({ id: inboxItems.id }).from(inboxItems).where(eq(inboxItems.messageId, messageId)).limit(1);
    return { messageId, inboxItemId: item?.id ?? null, delivered: false };
  };
  const [existing] = await ctx.db.select({ id: messages.id }).from(messages).where(eq(messages.id, messageId)).limit(1);
  if (existing) return earlier();
  const [to] = advice.requesterSessionId ? await ctx.db.select().from(sessions).where(eq(sessions.id, advice.requesterSessionId)).limit(1) : [];
  if (!to || to.state !== "active") {
    throw new ApiError(
      "SESSION_INACTIVE",
      `the requester of advice ${advice.id} (${to?.name ?? advice.requesterSessionId ?? "no session"}) is not an active session`,
      {
        hint: "Advice is delivered only to the live session that asked; reject it or wait for the session to come back.",
      },
    );
  }
  // Advice of a run spends the run's send budget first; a dry run or a spent budget refuses here.
  await reserveRunSend(ctx, { runId: advice.runId, threadId: advice.threadId, adviceId: advice.id });
  const [original] = await ctx.db.select().from(messages).where(eq(messages.id, advice.sourceMessageId)).limit(1);
  const [from] = await ctx.db.select().from(sessions).where(eq(sessions.id, advice.toSessionId)).limit(1);
  const row: MessageRow = {
    id: messageId,
    threadId: advice.threadId,
    correlationId: original?.correlationId ?? null,
    msgType: "reply",
    // The advice answers for the session that was asked; from_actor records who sent it.
    fromSessionId: advice.toSessionId,
    fromActor: actorOf(ctx.auth),
    toSessionId: to.id,
    inReplyTo: advice.sourceMessageId,
    project: advice.project,
    subject: original?.subject ? `Re: ${original.subject.replace(/^Re: /, "")}` : null,
    body: text,
    createdAt: ctx.now().getTime(),
    advisedAt: null,
  };
  const notApproved = new ApiError("CONFLICT", `advice ${advice.id} stopped being approved while it was being sent; nothing was delivered`, {
    hint: `Review it: switchyard broker review ${advice.id}`,
  });
  try {
    // Delivered only while the advice is still approved, checked in the delivery's own batch: a
    // rejection that committed after this send's check must mean nothing was sent.
    const sent = await postMessage(ctx, row, to, from ?? null, undefined, {
      holds: sql`EXISTS (SELECT 1 FROM ${adviceRequests} WHERE ${adviceRequests.id} = ${advice.id} AND ${adviceRequests.state} = 'approved')`,
      refused: () => notApproved,
    });
    return { messageId, inboxItemId: sent.inbox_item_id, delivered: true };
  } catch (e) {
    if (isUniqueViolation(e)) return earlier();
    // Refused because it is no longer approved: a concurrent send of the same advice that
    // delivered and recorded it first leaves its reply; that delivery is this one's answer too.
    if (e === notApproved) {
      const [delivered] = await ctx.db.select({ id: messages.id }).from(messages).where(eq(messages.id, messageId)).limit(1);
      if (delivered) return earlier();
    }
    throw e;
  }
}

/** Records a delivered advice request as sent (approved → sent); false when it was not approved any more. */
export async function markSent(ctx: Ctx, advice: AdviceRequestRow, delivery: { messageId: string; inboxItemId: string | null }, via: Record<string, unknown>) {
  const nowMs = ctx.now().getTime();
  const audit = auditInsert(ctx, {
    kind: "advice_sent",
    sessionId: advice.requesterSessionId,
    payload: { advice_id: advice.id, message_id: delivery.messageId, thread_id: advice.threadId, ...via },
  });
  return withWriteTransaction(ctx.db, async (tx) => {
    const [updated] = await tx
      .update(adviceRequests)
      .set({ state: "sent", sentMessageId: delivery.messageId, sentAt: nowMs, updatedAt: nowMs })
      .where(and(eq(adviceRequests.id, advice.id), eq(adviceRequests.state, "approved")))
      .returning();
    if (!updated) return null;
    await tx.insert(brokerEvents).values(
      brokerEventValues(ctx, {
        kind: "advice_sent",
        adviceId: advice.id,
        runId: advice.runId,
        payload: {
          message_id: delivery.messageId,
          inbox_item_id: delivery.inboxItemId,
          thread_id: advice.threadId,
          to_session_id: advice.requesterSessionId,
          ...via,
        },
      }),
    );
    await tx.insert(events).values(audit.row);
    return updated;
  });
}

/**
 * Sends approved advice exactly once. Refused before approval; after a send, every later call
 * answers with the same delivery (already_sent) and writes nothing.
 */
export async function sendApproved(ctx: Ctx, id: string): Promise<z.infer<typeof SendResult>> {
  const { advice, job } = await loadAdvice(ctx, id);
  if (advice.state === "sent") return alreadySent(ctx, advice, job);
  if (advice.state !== "approved") {
    throw new ApiError("CONFLICT", `advice ${id} is ${advice.state}; only approved advice can be sent`, {
      hint: `Approve it first: switchyard broker approve ${id} [--edit TEXT]`,
    });
  }
  const delivery = await deliverAdvice(ctx, advice, advice.approvedText!);
  const updated = await markSent(ctx, advice, delivery, { sent_by: actorOf(ctx.auth) });
  if (!updated) {
    const { advice: now } = await loadAdvice(ctx, id);
    if (now.state === "sent") return alreadySent(ctx, now, job);
    throw new ApiError("CONFLICT", `advice ${id} became ${now.state} while it was being sent; reply ${delivery.messageId} was delivered`, {
      hint: "Check the thread; the owner changed this advice concurrently.",
    });
  }
  return {
    advice: adviceToWire(updated, job),
    advice_id: id,
    message_id: delivery.messageId,
    inbox_item_id: delivery.inboxItemId,
    already_sent: !delivery.delivered,
  };
}

async function alreadySent(ctx: Ctx, advice: AdviceRequestRow, job: Awaited<ReturnType<typeof loadAdvice>>["job"]): Promise<z.infer<typeof SendResult>> {
  const [item] = await ctx.db.select({ id: inboxItems.id }).from(inboxItems).where(eq(inboxItems.messageId, advice.sentMessageId!)).limit(1);
  return { advice: adviceToWire(advice, job), advice_id: advice.id, message_id: advice.sentMessageId!, inbox_item_id: item?.id ?? null, already_sent: true };
}
