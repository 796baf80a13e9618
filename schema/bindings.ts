import { sql } from "drizzle-orm";
import { index, integer, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";
import { sessions } from "./sessions.ts";
import { tasks } from "./tasks.ts";
import { BINDING_STATES } from "./enums.ts";

// In schema/enums.ts, which the CLI loads (without drizzle or zod) to check option values.
export { BINDING_STATES };

export type BindingState = (typeof BINDING_STATES)[number];

/**
 * What ended a binding: an unbind (the manager's reach over the worker ends), the task's finish
 * or the patrol releasing a dead worker (the manager may still look at what the worker left),
 * stop-task, or reconcile.
 */
export const BINDING_END_REASONS = ["unbind", "finish", "orphan", "stop", "reconcile"] as const;
export type BindingEndReason = (typeof BINDING_END_REASONS)[number];

/** Ties one worker and one manager to one task. */
export const bindings = sqliteTable(
  "bindings",
  {
    id: text("id").primaryKey(),
    taskId: text("task_id")
      .notNull()
      .references(() => tasks.id),
    workerSessionId: text("worker_session_id")
      .notNull()
      .references(() => sessions.id),
    managerSessionId: text("manager_session_id")
      .notNull()
      .references(() => sessions.id),
    state: text("state", { enum: BINDING_STATES }).notNull().default("active"),
    // Highest transcript event id of the worker when the binding began: completions at or
    // below it belong to an earlier binding or spawn and are never routed to this manager.
    eventWatermark: integer("event_watermark").notNull().default(0),
    createdAt: integer("created_at").notNull(),
    endedAt: integer("ended_at"),
    /** Null while active, and on bindings that ended before this was recorded (see migration 0018). */
    endReason: text("end_reason", { enum: BINDING_END_REASONS }),
  },
  (t) => [
    // The database, not a read-then-write, guarantees one active binding per task and per worker.
    uniqueIndex("bindings_active_task_uq").on(t.taskId).where(sql`state = 'active'`),
    uniqueIndex("bindings_active_worker_uq").on(t.workerSessionId).where(sql`state = 'active'`),
    index("bindings_manager_idx").on(t.managerSessionId, t.state),
    // Every binding a task ever had (replay, audit, export, and task show / task bindings, which
    // page it newest first on (created_at, id)).
    index("bindings_task_idx").on(t.taskId, t.createdAt, t.id),
    // List pages in (created_at, id) order, by state and over all rows. Partial per state, so a
    // read of active bindings in task order still picks bindings_active_task_uq.
    index("bindings_active_created_idx").on(t.createdAt, t.id).where(sql`state = 'active'`),
    index("bindings_ended_created_idx").on(t.createdAt, t.id).where(sql`state = 'ended'`),
    index("bindings_created_idx").on(t.createdAt, t.id),
    // A worker's newest binding, ended ones too (dispatch-status, harvest).
    index("bindings_worker_created_idx").on(t.workerSessionId, t.createdAt),
  ],
);

export type BindingRow = typeof bindings.$inferSelect;
