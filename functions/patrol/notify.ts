import { and, asc, eq, isNull, type SQL, sql } from "drizzle-orm";
import type { MessageRow } from "../../schema/messages.ts";
import { notifications, type NotificationRow } from "../../schema/patrol.ts";
import { sessions } from "../../schema/sessions.ts";
import { actorOf, type Ctx } from "../lib/ctx.ts";
import { guardedInsert } from "../lib/guarded.ts";
import { iso } from "../lib/sql.ts";
import { createInboxItem } from "../messages/items.ts";
import { patrolSessionOrNull } from "./state.ts";

/** The originator of notice deliveries: a daemon actor, which push-authority never lets type into a pane. */
export const PATROL_ORIGINATOR = "daemon:patrol";

/** Who a notification is for: the owner, or one session (by id). */
export type NoticeTarget = "owner" | { sessionId: string };

/** A notification to write together with the state change that causes it. */
export interface Notice {
  to: NoticeTarget;
  kind: string;
  subject: string;
  body: string;
  payload?: Record<string, unknown>;
  taskId?: string | null;
  /** The cause, e.g. `gate_closed:gat_…:ses_…`: a second notice with the same key is never written. */
  dedupKey: string;
}

/**
 * Statements that write `notices` (ignored when their dedup key exists), each guarded by
 * `guard` so they are written only if the state change in the same batch happened. Owner
 * notices are delivered on insert: the row is the owner's inbox entry.
 */
export function noticeStatements(ctx: Ctx, notices: Notice[], guard: SQL = sql`1`) {
  const nowMs = ctx.now().getTime();
  return notices.map((n) =>
    guardedInsert(
      ctx.db,
      notifications,
      {
        id: ctx.newId("ntf"),
        dedupKey: n.dedupKey,
        recipient: n.to === "owner" ? "owner" : "session",
        targetSessionId: n.to === "owner" ? null : n.to.sessionId,
        kind: n.kind,
        subject: n.subject,
        body: n.body,
        payload: n.payload ?? {},
        taskId: n.taskId ?? null,
        createdAt: nowMs,
        deliveredAt: n.to === "owner" ? nowMs : null,
      },
      guard,
    ),
  );
}

/** Writes notices on their own (for causes that are not a guarded state change). */
export async function writeNotices(ctx: Ctx, notices: Notice[]): Promise<void> {
  if (!notices.length) return;
  const stmts = noticeStatements(ctx, notices);
  await ctx.db.batch(stmts as [(typeof stmts)[number], ...typeof stmts]);
}

/** The dedup key of the inbox item that delivers one notification. */
export function deliveryKey(notificationId: string): string {
  return `notice:${notificationId}`;
}

/** What one delivery pass did. */
export type DeliveryReport = {
  delivered: number;
  already_delivered: number;
  redirected_to_owner: number;
  items: Array<{ notification_id: string; kind: string; target: string; inbox_item_id: string }>;
};

/**
 * Delivers undelivered session notifications into their targets' inboxes, oldest first. The
 * inbox item's dedup key is derived from the notification id, so a pass that dies between the
 * inbox write and the `delivered_at` stamp re-finds the item instead of writing a second one:
 * every notification reaches its target exactly once. A notification whose target has been
 * deregistered goes to the owner instead, with the original target named.
 */
export async function deliverNotifications(ctx: Ctx, limit = 500): Promise<DeliveryReport> {
  const report: DeliveryReport = { delivered: 0, already_delivered: 0, redirected_to_owner: 0, items: [] };
  const pending = await ctx.db
    .select()
    .from(notifications)
    .where(isNull(notifications.deliveredAt))
    .orderBy(asc(notifications.createdAt), asc(notifications.id))
    .limit(limit);
  if (!pending.length) return report;
  const { session: patrol } = await patrolSessionOrNull(ctx);
  for (const n of pending) {
    const [target] = n.targetSessionId ? await ctx.db.select().from(sessions).where(eq(sessions.id, n.targetSessionId)).limit(1) : [];
    const nowMs = ctx.now().getTime();
    if (!target || target.state !== "active") {
      await ctx.db
        .update(notifications)
        .set({
          recipient: "owner",
          deliveredAt: nowMs,
          deliveryError: `target session ${target?.name ?? n.targetSessionId} is gone; redirected to the owner`,
        })
        .where(and(eq(notifications.id, n.id), isNull(notifications.deliveredAt)));
      report.redirected_to_owner++;
      continue;
    }
    const message: MessageRow = {
      id: ctx.newId("msg"),
      threadId: ctx.newId("thr"),
      correlationId: n.id,
      msgType: "notify",
      fromSessionId: patrol?.id ?? null,
      fromActor: actorOf(ctx.auth),
      toSessionId: target.id,
      inReplyTo: typeof n.payload.in_reply_to === "string" ? n.payload.in_reply_to : null,
      project: null,
      subject: n.subject,
      body: n.body,
      createdAt: nowMs,
      advisedAt: null,
    };
    const created = await createInboxItem(
      ctx,
      {
        target,
        // Pull only, whoever runs the patrol: it acts as the daemon, and its notices carry text
        // other principals chose (gate titles and close reasons, convoy titles), which must never
        // become keystrokes in a pane.
        originator: PATROL_ORIGINATOR,
        signalType: "message",
        sourceSessionId: patrol?.id ?? null,
        taskId: n.taskId,
        messageId: message.id,
        correlationId: n.id,
        dedupKey: deliveryKey(n.id),
        // The notice's own fields first: the message fields (from, subject…) must win.
        payload: {
          ...n.payload,
          message_id: message.id,
          thread_id: message.threadId,
          msg_type: "notify",
          from: patrol?.name ?? "patrol",
          from_actor: message.fromActor,
          subject: n.subject,
          body: n.body,
          project: null,
          in_reply_to: message.inReplyTo,
          notification_id: n.id,
          notification_kind: n.kind,
        },
      },
      { kind: "notification_delivered", payload: { notification_id: n.id, notification_kind: n.kind, to: target.name, subject: n.subject } },
      message,
    );
    await ctx.db
      .update(notifications)
      .set({ deliveredAt: nowMs, inboxItemId: created.item.id })
      .where(and(eq(notifications.id, n.id), isNull(notifications.deliveredAt)));
    if (created.created) report.delivered++;
    else report.already_delivered++;
    report.items.push({ notification_id: n.id, kind: n.kind, target: target.name, inbox_item_id: created.item.id });
  }
  return report;
}

/** The wire form of a notification. */
export function notificationToWire(n: NotificationRow, targetName: string | null) {
  return {
    id: n.id,
    recipient: n.recipient,
    target_session: targetName,
    target_session_id: n.targetSessionId,
    kind: n.kind,
    subject: n.subject,
    body: n.body,
    payload: n.payload,
    task_id: n.taskId,
    dedup_key: n.dedupKey,
    created_at: iso(n.createdAt)!,
    delivered_at: iso(n.deliveredAt),
    inbox_item_id: n.inboxItemId,
    delivery_error: n.deliveryError,
    acked_at: iso(n.ackedAt),
  };
}
