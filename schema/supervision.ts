import { index, integer, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";
import { MANAGER_MODES, NUDGE_ON_COMPLETION, CRITERION_STATUSES, CRITERION_SOURCES, EPILOGUE_STEPS, CONTINUATION_ROLES } from "./enums.ts";

// In schema/enums.ts, which the CLI loads (without drizzle or zod) to check option values.
export { MANAGER_MODES, NUDGE_ON_COMPLETION, CRITERION_STATUSES, CRITERION_SOURCES, EPILOGUE_STEPS, CONTINUATION_ROLES };

export type ManagerMode = (typeof MANAGER_MODES)[number];

export type NudgeOnCompletion = (typeof NUDGE_ON_COMPLETION)[number];

/**
 * A task's manager configuration, one row per revision: every change appends a row, so an
 * older contract stays readable. The latest revision is the one in force.
 */
export const managerConfigs = sqliteTable(
  "manager_configs",
  {
    id: text("id").primaryKey(),
    taskId: text("task_id").notNull(),
    revision: integer("revision").notNull(),
    config: text("config_json", { mode: "json" }).$type<Record<string, unknown>>().notNull(),
    createdBy: text("created_by").notNull(),
    createdAt: integer("created_at").notNull(),
  },
  (t) => [uniqueIndex("manager_configs_task_rev_uq").on(t.taskId, t.revision)],
);

export type ManagerConfigRow = typeof managerConfigs.$inferSelect;

export type CriterionStatus = (typeof CRITERION_STATUSES)[number];

export type CriterionSource = (typeof CRITERION_SOURCES)[number];

/** The living acceptance-criteria ledger of a task. Ids are small integers managers can type. */
export const acceptanceCriteria = sqliteTable(
  "acceptance_criteria",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    taskId: text("task_id").notNull(),
    criterion: text("criterion").notNull(),
    source: text("source", { enum: CRITERION_SOURCES }).notNull(),
    status: text("status", { enum: CRITERION_STATUSES }).notNull(),
    rationale: text("rationale"),
    evidence: text("evidence_json", { mode: "json" }).$type<Record<string, unknown>>(),
    evidenceType: text("evidence_type"),
    createdBy: text("created_by").notNull(),
    createdAt: integer("created_at").notNull(),
    updatedAt: integer("updated_at").notNull(),
  },
  (t) => [index("acceptance_criteria_task_idx").on(t.taskId, t.id), index("acceptance_criteria_task_status_idx").on(t.taskId, t.status, t.id)],
);

export type CriterionRow = typeof acceptanceCriteria.$inferSelect;

/** A worker's compact handoff: progress and likely next steps, persisted before a context change. */
export const taskHandoffs = sqliteTable(
  "task_handoffs",
  {
    id: text("id").primaryKey(),
    taskId: text("task_id").notNull(),
    summary: text("summary").notNull(),
    nextSteps: text("next_steps_json", { mode: "json" }).$type<string[]>().notNull(),
    payload: text("payload_json", { mode: "json" }).$type<Record<string, unknown>>(),
    sessionId: text("session_id"),
    createdBy: text("created_by").notNull(),
    createdAt: integer("created_at").notNull(),
  },
  (t) => [index("task_handoffs_task_idx").on(t.taskId, t.createdAt, t.id)],
);

export type HandoffRow = typeof taskHandoffs.$inferSelect;

export const ACK_ROLES = ["worker", "manager"] as const;
export type AckRole = (typeof ACK_ROLES)[number];

/** Revisioned acknowledgements of the task contract, one series per role. */
export const taskAcknowledgements = sqliteTable(
  "task_acknowledgements",
  {
    id: text("id").primaryKey(),
    taskId: text("task_id").notNull(),
    role: text("role", { enum: ACK_ROLES }).notNull(),
    revision: integer("revision").notNull(),
    payload: text("payload_json", { mode: "json" }).$type<Record<string, unknown>>().notNull(),
    correlationId: text("correlation_id"),
    sessionId: text("session_id"),
    createdBy: text("created_by").notNull(),
    createdAt: integer("created_at").notNull(),
  },
  (t) => [
    uniqueIndex("task_acknowledgements_rev_uq").on(t.taskId, t.role, t.revision),
    index("task_acknowledgements_task_idx").on(t.taskId, t.createdAt, t.id),
  ],
);

export type AckRow = typeof taskAcknowledgements.$inferSelect;

export const DECISIONS = ["wait", "nudge", "interrupt", "escalate", "stop", "inspect"] as const;
export type Decision = (typeof DECISIONS)[number];

/** A manager's recorded decision; strict mutating commands cite its id. */
export const managerDecisions = sqliteTable(
  "manager_decisions",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    taskId: text("task_id").notNull(),
    decision: text("decision", { enum: DECISIONS }).notNull(),
    reason: text("reason").notNull(),
    cycleId: integer("cycle_id"),
    payload: text("payload_json", { mode: "json" }).$type<Record<string, unknown>>(),
    createdBy: text("created_by").notNull(),
    createdAt: integer("created_at").notNull(),
  },
  (t) => [index("manager_decisions_task_idx").on(t.taskId, t.id)],
);

export type DecisionRow = typeof managerDecisions.$inferSelect;

export type EpilogueStep = (typeof EPILOGUE_STEPS)[number];

export const EPILOGUE_STATES = ["succeeded", "failed"] as const;

/** One run of a configured post-completion step. */
export const epilogueRuns = sqliteTable(
  "epilogue_runs",
  {
    id: text("id").primaryKey(),
    taskId: text("task_id").notNull(),
    step: text("step", { enum: EPILOGUE_STEPS }).notNull(),
    state: text("state", { enum: EPILOGUE_STATES }).notNull(),
    result: text("result_json", { mode: "json" }).$type<Record<string, unknown>>().notNull(),
    error: text("error"),
    correlationId: text("correlation_id"),
    createdBy: text("created_by").notNull(),
    createdAt: integer("created_at").notNull(),
  },
  (t) => [index("epilogue_runs_task_idx").on(t.taskId, t.step, t.createdAt, t.id)],
);

export type EpilogueRunRow = typeof epilogueRuns.$inferSelect;

/** Independent "what's next" proposals of a completion turn, worker first. */
export const taskContinuations = sqliteTable(
  "task_continuations",
  {
    id: text("id").primaryKey(),
    taskId: text("task_id").notNull(),
    correlationId: text("correlation_id").notNull(),
    role: text("role", { enum: CONTINUATION_ROLES }).notNull(),
    payload: text("payload_json", { mode: "json" }).$type<Record<string, unknown>>().notNull(),
    sessionId: text("session_id"),
    createdBy: text("created_by").notNull(),
    createdAt: integer("created_at").notNull(),
  },
  (t) => [uniqueIndex("task_continuations_uq").on(t.taskId, t.correlationId, t.role), index("task_continuations_task_idx").on(t.taskId, t.createdAt, t.id)],
);

export type ContinuationRow = typeof taskContinuations.$inferSelect;

export const REVIEW_VERDICTS = ["proceed", "revise", "stop"] as const;
export type ReviewVerdict = (typeof REVIEW_VERDICTS)[number];

/** A reviewer's verdict over a pair of continuation proposals. */
export const continuationReviews = sqliteTable(
  "continuation_reviews",
  {
    id: text("id").primaryKey(),
    taskId: text("task_id").notNull(),
    correlationId: text("correlation_id").notNull(),
    verdict: text("verdict", { enum: REVIEW_VERDICTS }).notNull(),
    payload: text("payload_json", { mode: "json" }).$type<Record<string, unknown>>().notNull(),
    reviewerSessionId: text("reviewer_session_id").notNull(),
    managerSessionId: text("manager_session_id"),
    operatorAttention: integer("operator_attention", { mode: "boolean" }).notNull().default(false),
    error: text("error"),
    createdBy: text("created_by").notNull(),
    createdAt: integer("created_at").notNull(),
  },
  (t) => [
    index("continuation_reviews_task_idx").on(t.taskId, t.createdAt, t.id),
    // One turn's newest reviews, however many other turns have (the list reads them per turn).
    index("continuation_reviews_turn_idx").on(t.taskId, t.correlationId, t.createdAt, t.id),
  ],
);

export type ContinuationReviewRow = typeof continuationReviews.$inferSelect;
