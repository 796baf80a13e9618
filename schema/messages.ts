import { sql } from "drizzle-orm";
import { index, integer, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";
import { MSG_TYPES } from "./enums.ts";

// In schema/enums.ts, which the CLI loads (without drizzle or zod) to check option values.
export { MSG_TYPES };

export type MsgType = (typeof MSG_TYPES)[number];

/** Messages between sessions (and from the owner or daemons), grouped into threads. */
export const messages = sqliteTable(
  "messages",
  {
    id: text("id").primaryKey(),
    threadId: text("thread_id").notNull(),
    correlationId: text("correlation_id"),
    msgType: text("msg_type", { enum: MSG_TYPES }).notNull(),
    fromSessionId: text("from_session_id"),
    fromActor: text("from_actor").notNull(),
    toSessionId: text("to_session_id").notNull(),
    inReplyTo: text("in_reply_to"),
    project: text("project"),
    subject: text("subject"),
    body: text("body").notNull(),
    createdAt: integer("created_at").notNull(),
    /**
     * When the broker made an advice request of this request message (set by a trigger on
     * advice_requests, migration 0021); null until then, and for every other message.
     */
    advisedAt: integer("advised_at"),
  },
  (t) => [
    // A session's messages, newest first a page at a time: what it received and what it sent.
    index("messages_to_idx").on(t.toSessionId, t.createdAt, t.id),
    index("messages_from_idx").on(t.fromSessionId, t.createdAt, t.id),
    index("messages_thread_idx").on(t.threadId, t.createdAt, t.id),
    // `messages --type T`, newest first on (created_at, id): the tie-break is read, not sorted.
    index("messages_type_idx").on(t.msgType, t.createdAt, t.id),
    // Requests the broker has not taken up yet, oldest first: its poll reads only these.
    index("messages_unadvised_idx").on(t.createdAt, t.id).where(sql`msg_type = 'request' AND advised_at IS NULL`),
    // The unfiltered list, newest first, a page at a time.
    index("messages_created_idx").on(t.createdAt, t.id),
  ],
);

export type MessageRow = typeof messages.$inferSelect;

export const INBOX_SIGNALS = ["message", "worker_task_complete", "notify_manager", "nudge_worker", "continue_iteration"] as const;
export type InboxSignal = (typeof INBOX_SIGNALS)[number];

export const DELIVERY_MODES = ["push", "pull_required"] as const;

/**
 * Routed notifications addressed to one session: its inbox. `dedup_key` makes routing
 * idempotent (e.g. one completion per source event and binding); consumption is one
 * conditional UPDATE on `consumed_at IS NULL`.
 */
export const inboxItems = sqliteTable(
  "inbox_items",
  {
    id: text("id").primaryKey(),
    targetSessionId: text("target_session_id").notNull(),
    sourceSessionId: text("source_session_id"),
    taskId: text("task_id"),
    bindingId: text("binding_id"),
    signalType: text("signal_type", { enum: INBOX_SIGNALS }).notNull(),
    messageId: text("message_id"),
    sourceEventId: integer("source_event_id"),
    dedupKey: text("dedup_key"),
    correlationId: text("correlation_id"),
    payload: text("payload_json", { mode: "json" }).$type<Record<string, unknown>>().notNull(),
    deliveryMode: text("delivery_mode", { enum: DELIVERY_MODES }).notNull(),
    deliveryCommandId: text("delivery_command_id"),
    deliveredAt: integer("delivered_at"),
    consumedAt: integer("consumed_at"),
    consumedBy: text("consumed_by"),
    createdAt: integer("created_at").notNull(),
  },
  (t) => [
    uniqueIndex("inbox_items_dedup_uq").on(t.dedupKey),
    index("inbox_items_target_idx").on(t.targetSessionId, t.consumedAt, t.createdAt),
    index("inbox_items_task_idx").on(t.taskId, t.createdAt),
    // The broker finds the delivery of an advice it already sent (a retry, a second send).
    index("inbox_items_message_idx").on(t.messageId),
  ],
);

export type InboxItemRow = typeof inboxItems.$inferSelect;
