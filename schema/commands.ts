import { index, integer, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";
import { COMMAND_TYPES, COMMAND_STATES } from "./enums.ts";

// In schema/enums.ts, which the CLI loads (without drizzle or zod) to check option values.
export { COMMAND_TYPES, COMMAND_STATES };

export type CommandType = (typeof COMMAND_TYPES)[number];

export type CommandState = (typeof COMMAND_STATES)[number];

/** The durable command log. */
export const commands = sqliteTable(
  "commands",
  {
    id: text("id").primaryKey(),
    type: text("type", { enum: COMMAND_TYPES }).notNull(),
    state: text("state", { enum: COMMAND_STATES }).notNull(),
    taskId: text("task_id"),
    sessionId: text("session_id"),
    host: text("host"),
    payload: text("payload_json", { mode: "json" }).$type<Record<string, unknown>>().notNull(),
    result: text("result_json", { mode: "json" }).$type<Record<string, unknown>>(),
    error: text("error"),
    idempotencyKey: text("idempotency_key"),
    /** Whose key it is: the caller and the task or session it targets (a key is unique within its scope). */
    idempotencyScope: text("idempotency_scope"),
    correlationId: text("correlation_id"),
    attempts: integer("attempts").notNull().default(0),
    maxAttempts: integer("max_attempts").notNull().default(1),
    claimedBy: text("claimed_by"),
    claimGeneration: integer("claim_generation").notNull().default(0),
    leaseExpiresAt: integer("lease_expires_at"),
    nextAttemptAt: integer("next_attempt_at"),
    requiredPermission: text("required_permission"),
    createdBy: text("created_by").notNull(),
    createdAt: integer("created_at").notNull(),
    updatedAt: integer("updated_at").notNull(),
    completedAt: integer("completed_at"),
  },
  (t) => [
    uniqueIndex("commands_idempotency_uq").on(t.idempotencyScope, t.idempotencyKey),
    index("commands_state_idx").on(t.state, t.host, t.createdAt),
    // Lists (by state and over all rows) and the claim's oldest-first pick, without a sort.
    index("commands_state_created_idx").on(t.state, t.createdAt, t.id),
    index("commands_created_idx").on(t.createdAt, t.id),
    // `commands --type T`, newest first: a rare type must not walk the whole history.
    index("commands_type_created_idx").on(t.type, t.createdAt, t.id),
    index("commands_session_idx").on(t.sessionId, t.createdAt),
    index("commands_task_idx").on(t.taskId, t.createdAt),
    // A task's page of the command list, newest first on (created_at, id); the index above keeps
    // the (created_at, rowid) order a task's audit history reads.
    index("commands_task_page_idx").on(t.taskId, t.createdAt, t.id),
  ],
);

export type CommandRow = typeof commands.$inferSelect;

/** One execution attempt of a command, with how far its side effect got. */
export const commandAttempts = sqliteTable(
  "command_attempts",
  {
    id: text("id").primaryKey(),
    commandId: text("command_id").notNull(),
    dispatcherId: text("dispatcher_id").notNull(),
    claimGeneration: integer("claim_generation").notNull(),
    sideEffectStarted: integer("side_effect_started", { mode: "boolean" }).notNull().default(false),
    sideEffectCompleted: integer("side_effect_completed", { mode: "boolean" }).notNull().default(false),
    result: text("result_json", { mode: "json" }).$type<Record<string, unknown>>(),
    error: text("error"),
    startedAt: integer("started_at").notNull(),
    finishedAt: integer("finished_at"),
  },
  (t) => [index("command_attempts_command_idx").on(t.commandId, t.startedAt)],
);

export type CommandAttemptRow = typeof commandAttempts.$inferSelect;

export const DISPATCHER_STATES = ["running", "stopped"] as const;

/** Dispatcher processes and their heartbeats. */
export const dispatchers = sqliteTable("dispatchers", {
  id: text("id").primaryKey(),
  host: text("host"),
  pid: integer("pid"),
  state: text("state", { enum: DISPATCHER_STATES }).notNull(),
  dryRun: integer("dry_run", { mode: "boolean" }).notNull().default(false),
  iteration: integer("iteration").notNull().default(0),
  processed: integer("processed").notNull().default(0),
  lastReport: text("last_report_json", { mode: "json" }).$type<Record<string, unknown>>(),
  startedAt: integer("started_at").notNull(),
  heartbeatAt: integer("heartbeat_at").notNull(),
  stoppedAt: integer("stopped_at"),
});

export type DispatcherRow = typeof dispatchers.$inferSelect;

/**
 * Drain leases: per claim scope (host and command types), the one looping dispatcher that claims
 * database-only commands at a time, so dispatchers of one scope do not queue for SQLite's single
 * writer lock behind each other (functions/queue/drain-lease.ts). Advisory for throughput only:
 * every claim stays a conditional, fenced UPDATE, so two holders could never run a command twice.
 */
export const dispatchLeases = sqliteTable("dispatch_leases", {
  scope: text("scope").primaryKey(),
  holder: text("holder").notNull(),
  expiresAt: integer("expires_at").notNull(),
  takenAt: integer("taken_at").notNull(),
  /**
   * The holder's lease length: a reader believes an expiry at most two of these ahead of its own
   * clock, so a row from a host whose clock runs fast (or edited by hand) cannot hold the drain
   * for longer than that after its holder is gone.
   */
  ttlMs: integer("ttl_ms").notNull().default(5000),
});

export type DispatchLeaseRow = typeof dispatchLeases.$inferSelect;
