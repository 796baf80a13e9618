import { index, integer, sqliteTable, text } from "drizzle-orm/sqlite-core";
import { LOOP_EVIDENCE_STATUSES } from "./enums.ts";

// In schema/enums.ts, which the CLI loads (without drizzle or zod) to check option values.
export { LOOP_EVIDENCE_STATUSES };

export const LOOP_RUN_STATES = ["active", "completed", "stopped"] as const;

/**
 * A loop policy run: a template's guardrails copied onto one task, so later template changes
 * never move an existing run's goalposts. `current_iteration` advances only when a continue
 * command is delivered.
 */
export const loopRuns = sqliteTable(
  "loop_runs",
  {
    id: text("id").primaryKey(),
    taskId: text("task_id").notNull(),
    template: text("template").notNull(),
    maxIterations: integer("max_iterations").notNull(),
    currentIteration: integer("current_iteration").notNull().default(1),
    requiredBeforeContinue: text("required_before_continue_json", { mode: "json" }).$type<string[]>().notNull(),
    artifactRequirements: text("artifact_requirements_json", { mode: "json" }).$type<Record<string, unknown>>().notNull(),
    cleanupPolicy: text("cleanup_policy").notNull(),
    recommendedTools: text("recommended_tools_json", { mode: "json" }).$type<string[]>().notNull(),
    state: text("state", { enum: LOOP_RUN_STATES }).notNull().default("active"),
    createdBy: text("created_by").notNull(),
    createdAt: integer("created_at").notNull(),
    updatedAt: integer("updated_at").notNull(),
  },
  (t) => [index("loop_runs_task_idx").on(t.taskId, t.createdAt, t.id)],
);

export type LoopRunRow = typeof loopRuns.$inferSelect;

/** A run-qualified evidence receipt for one iteration of a loop. */
export const loopEvidence = sqliteTable(
  "loop_evidence",
  {
    id: text("id").primaryKey(),
    runId: text("run_id").notNull(),
    taskId: text("task_id").notNull(),
    iteration: integer("iteration").notNull(),
    evidenceType: text("evidence_type").notNull(),
    status: text("status", { enum: LOOP_EVIDENCE_STATUSES }).notNull(),
    payload: text("payload_json", { mode: "json" }).$type<Record<string, unknown>>().notNull(),
    createdBy: text("created_by").notNull(),
    createdAt: integer("created_at").notNull(),
  },
  (t) => [index("loop_evidence_run_idx").on(t.runId, t.iteration, t.evidenceType, t.status)],
);

export type LoopEvidenceRow = typeof loopEvidence.$inferSelect;
