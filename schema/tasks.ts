import { index, integer, sqliteTable, text } from "drizzle-orm/sqlite-core";
import { TASK_STATES } from "./enums.ts";

// In schema/enums.ts, which the CLI loads (without drizzle or zod) to check option values.
export { TASK_STATES };

export type TaskState = (typeof TASK_STATES)[number];

/** A unit of supervised work. */
export const tasks = sqliteTable(
  "tasks",
  {
    id: text("id").primaryKey(),
    name: text("name").notNull().unique(),
    goal: text("goal"),
    summary: text("summary"),
    state: text("state", { enum: TASK_STATES }).notNull().default("active"),
    createdAt: integer("created_at").notNull(),
    updatedAt: integer("updated_at").notNull(),
    finishedAt: integer("finished_at"),
  },
  (t) => [
    // By state in rowid order (the dashboard's newest tasks) ...
    index("tasks_state_idx").on(t.state),
    // ... and list pages in (created_at, id) order, by state and over all rows.
    index("tasks_state_created_idx").on(t.state, t.createdAt, t.id),
    index("tasks_created_idx").on(t.createdAt, t.id),
  ],
);

export type TaskRow = typeof tasks.$inferSelect;
