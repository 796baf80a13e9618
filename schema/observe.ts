import { index, integer, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";
import { WORKER_STATES } from "./enums.ts";

// In schema/enums.ts, which the CLI loads (without drizzle or zod) to check option values.
export { WORKER_STATES };

/** The normalized event kinds both transcript formats map onto. */
export const EVENT_KINDS = ["user_message", "task_started", "agent_message", "tool_activity", "task_complete", "error", "other"] as const;
export type EventKind = (typeof EVENT_KINDS)[number];

/**
 * Events ingested from a session's transcript. `offset` is the byte offset of the source line
 * and `seq` numbers the events one line produced, so re-ingesting a line can never duplicate.
 */
export const transcriptEvents = sqliteTable(
  "transcript_events",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    sessionId: text("session_id").notNull(),
    generation: integer("generation").notNull(),
    offset: integer("offset").notNull(),
    seq: integer("seq").notNull(),
    kind: text("kind", { enum: EVENT_KINDS }).notNull(),
    subtype: text("subtype").notNull(),
    eventAt: integer("event_at"),
    text: text("text"),
    tool: text("tool"),
    ingestedAt: integer("ingested_at").notNull(),
    /**
     * When the event happened on the server's clock: the agent's stamp corrected for its host's
     * clock skew and kept within what ingest observed (functions/observe/clock-skew.ts). Null on
     * rows ingested before this column existed.
     */
    observedAt: integer("observed_at"),
    /**
     * The agent's id of the turn this event belongs to (Codex turn_id, Claude promptId), so a
     * completion seen in the transcript and the same completion seen by a Stop hook are one.
     */
    turnId: text("turn_id"),
  },
  (t) => [
    uniqueIndex("transcript_events_source_uq").on(t.sessionId, t.generation, t.offset, t.seq),
    index("transcript_events_session_kind_idx").on(t.sessionId, t.kind, t.id),
    // Newest-first reads of one session's history (tail) and the latest event of a subtype
    // (turn aborted, API error), so neither sorts the whole history.
    index("transcript_events_session_id_idx").on(t.sessionId, t.id),
    index("transcript_events_session_subtype_idx").on(t.sessionId, t.subtype, t.id),
  ],
);

export type TranscriptEventRow = typeof transcriptEvents.$inferSelect;

/**
 * Where ingest stopped in a session's transcript. `identity` is the file's device:inode, so a
 * replaced file is noticed; `generation` increases on every rotation or truncation.
 */
export const ingestCursors = sqliteTable("ingest_cursors", {
  sessionId: text("session_id").primaryKey(),
  path: text("path").notNull(),
  identity: text("identity").notNull(),
  generation: integer("generation").notNull(),
  offset: integer("offset").notNull(),
  linesTotal: integer("lines_total").notNull(),
  skippedTotal: integer("skipped_total").notNull(),
  updatedAt: integer("updated_at").notNull(),
  /** Estimated offset of the agent host's clock from the server's (agent stamp minus server time). */
  clockSkewMs: integer("clock_skew_ms").notNull().default(0),
  /** Size of the transcript at the last look, and the server time of that look. */
  seenSize: integer("seen_size"),
  seenAt: integer("seen_at"),
  /**
   * The cursor sits inside a line longer than the ingest limit: bytes up to the next newline are
   * skipped (never buffered) and the line counted as skipped once it ends.
   */
  skippingLine: integer("skipping_line", { mode: "boolean" }).notNull().default(false),
});

export type IngestCursorRow = typeof ingestCursors.$inferSelect;

/**
 * Totals over every ingest cursor, one row (id 1) kept by triggers on ingest_cursors (migration
 * 0027): the telemetry failure and metrics views read these instead of summing a table that has
 * a row for every session ever ingested.
 */
export const ingestTotals = sqliteTable("ingest_totals", {
  id: integer("id").primaryKey(),
  sessions: integer("sessions").notNull().default(0),
  lines: integer("lines").notNull().default(0),
  skipped: integer("skipped").notNull().default(0),
  /** Cursors that skipped at least one line. */
  sessionsSkipping: integer("sessions_skipping").notNull().default(0),
});

export const CYCLE_STATES = ["ok", "failed"] as const;
export type WorkerState = (typeof WORKER_STATES)[number];

/** One row per `cycle`: the observation the manager acted on, replayable later. */
export const managerCycles = sqliteTable(
  "manager_cycles",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    taskId: text("task_id").notNull(),
    bindingId: text("binding_id"),
    workerSessionId: text("worker_session_id"),
    managerSessionId: text("manager_session_id"),
    state: text("state", { enum: CYCLE_STATES }).notNull(),
    workerState: text("worker_state", { enum: WORKER_STATES }),
    notablePattern: text("notable_pattern"),
    status: text("status_json", { mode: "json" }).$type<Record<string, unknown>>(),
    error: text("error"),
    /** Set when the hook-derived state and the transcript/pane reading disagreed in this cycle. */
    divergence: text("divergence"),
    createdAt: integer("created_at").notNull(),
  },
  (t) => [index("manager_cycles_task_idx").on(t.taskId, t.id)],
);
