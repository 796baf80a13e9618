import { index, integer, sqliteTable, text } from "drizzle-orm/sqlite-core";

export const TASK_STATES = ["active", "finished"] as const;
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
  (t) => [index("tasks_state_idx").on(t.state)],
);

export type TaskRow = typeof tasks.$inferSelect;
