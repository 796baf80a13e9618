import { sql } from "drizzle-orm";
import { index, integer, primaryKey, sqliteTable, text } from "drizzle-orm/sqlite-core";
import { CONVOY_STATES } from "./enums.ts";

// In schema/enums.ts, which the CLI loads (without drizzle or zod) to check option values.
export { CONVOY_STATES };

export type ConvoyState = (typeof CONVOY_STATES)[number];

/**
 * A group of tasks tracked together (possibly across projects). It closes when every tracked
 * task is finished and reopens when one of them is reopened. The close is one conditional
 * UPDATE that re-checks the tracked tasks inside it, stamping `close_token`; the owner's
 * notification is written only where that token is found.
 */
export const convoys = sqliteTable(
  "convoys",
  {
    id: text("id").primaryKey(),
    title: text("title").notNull(),
    state: text("state", { enum: CONVOY_STATES }).notNull(),
    /** Who is told when it completes: a session, or the owner when null. */
    ownerSessionId: text("owner_session_id"),
    createdBy: text("created_by").notNull(),
    createdAt: integer("created_at").notNull(),
    closedAt: integer("closed_at"),
    closeReason: text("close_reason"),
    closeToken: text("close_token"),
    reopenedAt: integer("reopened_at"),
  },
  (t) => [index("convoys_state_idx").on(t.state, t.createdAt, t.id), index("convoys_created_idx").on(t.createdAt, t.id)],
);

export type ConvoyRow = typeof convoys.$inferSelect;

/** Which tasks a convoy tracks. */
export const convoyTasks = sqliteTable(
  "convoy_tasks",
  {
    convoyId: text("convoy_id").notNull(),
    taskId: text("task_id").notNull(),
  },
  (t) => [primaryKey({ columns: [t.convoyId, t.taskId] }), index("convoy_tasks_task_idx").on(t.taskId, t.convoyId)],
);

/**
 * Task A (`task_id`) waits for task B (`depends_on_task_id`). `resolved_at` is stamped when B
 * finishes (and the dependent's manager is told); reopening B clears it again.
 */
export const taskDeps = sqliteTable(
  "task_deps",
  {
    taskId: text("task_id").notNull(),
    dependsOnTaskId: text("depends_on_task_id").notNull(),
    createdAt: integer("created_at").notNull(),
    resolvedAt: integer("resolved_at"),
    resolveToken: text("resolve_token"),
  },
  (t) => [
    primaryKey({ columns: [t.taskId, t.dependsOnTaskId] }),
    index("task_deps_on_idx").on(t.dependsOnTaskId, t.taskId),
    // Only open dependencies: what `blocked` and resolve-external-deps walk.
    index("task_deps_unresolved_idx").on(t.taskId, t.dependsOnTaskId).where(sql`resolved_at IS NULL`),
  ],
);

export type TaskDepRow = typeof taskDeps.$inferSelect;
