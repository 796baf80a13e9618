import { index, integer, sqliteTable, text } from "drizzle-orm/sqlite-core";

/** Append-only audit log: every mutation writes one row. */
export const events = sqliteTable(
  "events",
  {
    id: text("id").primaryKey(),
    kind: text("kind").notNull(),
    taskId: text("task_id"),
    sessionId: text("session_id"),
    actor: text("actor").notNull(),
    payload: text("payload_json", { mode: "json" }).$type<Record<string, unknown>>().notNull(),
    createdAt: integer("created_at").notNull(),
  },
  (t) => [index("events_task_idx").on(t.taskId, t.createdAt), index("events_session_idx").on(t.sessionId, t.createdAt)],
);

export type EventRow = typeof events.$inferSelect;
