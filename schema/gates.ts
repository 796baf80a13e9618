import { index, integer, primaryKey, sqliteTable, text } from "drizzle-orm/sqlite-core";
import { GATE_TYPES, GATE_STATES } from "./enums.ts";

// In schema/enums.ts, which the CLI loads (without drizzle or zod) to check option values.
export { GATE_TYPES, GATE_STATES };

export type GateType = (typeof GATE_TYPES)[number];

export type GateState = (typeof GATE_STATES)[number];

/**
 * An asynchronous wait. `close_token` is stamped by the one UPDATE that closes the gate; the
 * waiters' notifications in the same batch are written only where that token is found, so a
 * gate is closed and its waiters notified together, once.
 */
export const gates = sqliteTable(
  "gates",
  {
    id: text("id").primaryKey(),
    type: text("type", { enum: GATE_TYPES }).notNull(),
    title: text("title"),
    state: text("state", { enum: GATE_STATES }).notNull(),
    timeoutMs: integer("timeout_ms"),
    /** When a timer gate becomes due (created_at + timeout); null for other types. */
    dueAt: integer("due_at"),
    createdBy: text("created_by").notNull(),
    createdBySessionId: text("created_by_session_id"),
    createdAt: integer("created_at").notNull(),
    closedAt: integer("closed_at"),
    closedBy: text("closed_by"),
    closeReason: text("close_reason"),
    closeToken: text("close_token"),
  },
  (t) => [
    index("gates_due_idx").on(t.state, t.type, t.dueAt),
    index("gates_list_idx").on(t.state, t.createdAt, t.id),
    index("gates_created_idx").on(t.createdAt, t.id),
  ],
);

export type GateRow = typeof gates.$inferSelect;

/** The sessions notified when a gate closes. */
export const gateWaiters = sqliteTable(
  "gate_waiters",
  {
    gateId: text("gate_id").notNull(),
    sessionId: text("session_id").notNull(),
  },
  (t) => [primaryKey({ columns: [t.gateId, t.sessionId] })],
);
