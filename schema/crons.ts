import { index, integer, sqliteTable, text } from "drizzle-orm/sqlite-core";

export const CRON_RUN_STATES = ["running", "succeeded", "failed"] as const;

/**
 * One row per scheduled slot: the insert that wins the primary key runs the slot. About 26,000 a
 * day (the 10-second crons), kept a week: the hourly prune finds the old ones by claim time.
 */
export const cronSlots = sqliteTable(
  "cron_slots",
  {
    slotKey: text("slot_key").primaryKey(),
    owner: text("owner").notNull(),
    claimedAt: integer("claimed_at").notNull(),
  },
  (t) => [index("cron_slots_claimed_idx").on(t.claimedAt)],
);

/** Every tick that ran, scheduled or on demand, with its report. */
export const cronRuns = sqliteTable(
  "cron_runs",
  {
    id: text("id").primaryKey(),
    name: text("name").notNull(),
    slotKey: text("slot_key"),
    runner: text("runner").notNull(),
    state: text("state", { enum: CRON_RUN_STATES }).notNull(),
    report: text("report_json", { mode: "json" }).$type<Record<string, unknown>>(),
    error: text("error"),
    startedAt: integer("started_at").notNull(),
    finishedAt: integer("finished_at"),
  },
  (t) => [index("cron_runs_name_idx").on(t.name, t.startedAt), index("cron_runs_started_idx").on(t.startedAt)],
);
