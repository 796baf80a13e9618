import type { MessageRow } from "../../schema/messages.ts";
import type { SessionRow } from "../../schema/sessions.ts";
import { actorOf, type Ctx } from "../lib/ctx.ts";
import { iso } from "../lib/sql.ts";
import { createInboxItem, type CreatedInboxItem, type NewInboxItem } from "./items.ts";

/** The wire form of a message; names are passed in because the caller already has them. */
export function messageToWire(m: MessageRow, names: { from: string | null; to: string }) {
  return {
    id: m.id,
    thread_id: m.threadId,
    correlation_id: m.correlationId,
    msg_type: m.msgType,
    from_session: names.from,
    from_session_id: m.fromSessionId,
    from_actor: m.fromActor,
    to_session: names.to,
    to_session_id: m.toSessionId,
    in_reply_to: m.inReplyTo,
    project: m.project,
    subject: m.subject,
    body: m.body,
    created_at: iso(m.createdAt)!,
  };
}

/**
 * Stores a message and puts it in the recipient's inbox (signal 'message'), with one
 * `message_sent` audit event, in one transaction. It is typed into the recipient's pane only when
 * the caller may nudge that session. `respond` is the route's status, when this is its write;
 * `precondition`, a condition the whole write is made under (see NewInboxItem).
 */
export async function postMessage(
  ctx: Ctx,
  m: MessageRow,
  to: SessionRow,
  from: SessionRow | null,
  respond?: number,
  precondition?: NewInboxItem["precondition"],
) {
  const result = (created: CreatedInboxItem) => ({
    message: messageToWire(m, { from: from?.name ?? null, to: to.name }),
    message_id: m.id,
    thread_id: m.threadId,
    correlation_id: m.correlationId,
    inbox_item_id: created.item.id,
    delivery_mode: created.item.deliveryMode,
    delivery_command_id: created.item.deliveryCommandId,
    event_id: created.eventId!,
  });
  const created = await createInboxItem(
    ctx,
    {
      target: to,
      originator: actorOf(ctx.auth),
      signalType: "message",
      sourceSessionId: from?.id ?? null,
      messageId: m.id,
      correlationId: m.correlationId,
      dedupKey: `message:${m.id}`,
      precondition,
      payload: {
        message_id: m.id,
        thread_id: m.threadId,
        msg_type: m.msgType,
        from: from?.name ?? null,
        from_actor: m.fromActor,
        subject: m.subject,
        body: m.body,
        project: m.project,
        in_reply_to: m.inReplyTo,
      },
    },
    {
      kind: "message_sent",
      payload: {
        message_id: m.id,
        thread_id: m.threadId,
        msg_type: m.msgType,
        from: from?.name ?? null,
        to: to.name,
        in_reply_to: m.inReplyTo,
        subject: m.subject,
        body: m.body,
      },
    },
    m,
    respond ? { status: respond, body: result } : undefined,
  );
  return result(created);
}
