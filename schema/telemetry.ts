import { sql } from "drizzle-orm";
import { index, integer, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";

/** Where a telemetry row came from: the audit log, a cycle, a command, an attempt, an inbox item. */
export const TELEMETRY_SOURCES = ["audit", "cycle", "command", "attempt", "inbox"] as const;
export type TelemetrySource = (typeof TELEMETRY_SOURCES)[number];

export const TELEMETRY_OUTCOMES = ["ok", "failed", "info"] as const;
export type TelemetryOutcome = (typeof TELEMETRY_OUTCOMES)[number];

/**
 * One structured stream of what happened, for search and triage. Rows are written by SQL
 * triggers on the tables where things happen (events, manager_cycles, commands,
 * command_attempts, inbox_items; see the telemetry_fts migration), so they land in the same
 * statement as the change itself, with no extra round trip and no code path that can forget
 * them. `summary` holds identifiers, states and counts only, never transcript, pane, prompt or
 * payload bodies; it is what the full-text index (`telemetry_fts`, FTS5) covers.
 */
export const telemetryEvents = sqliteTable(
  "telemetry_events",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    source: text("source", { enum: TELEMETRY_SOURCES }).notNull(),
    kind: text("kind").notNull(),
    taskId: text("task_id"),
    sessionId: text("session_id"),
    /** A run this row belongs to: a broker or loop run, a dispatcher, a patrol run. */
    runId: text("run_id"),
    actor: text("actor"),
    /** The id of the source row (events.id, manager_cycles.id, commands.id, …). */
    refId: text("ref_id"),
    outcome: text("outcome", { enum: TELEMETRY_OUTCOMES }).notNull(),
    summary: text("summary").notNull(),
    createdAt: integer("created_at").notNull(),
  },
  (t) => [
    index("telemetry_task_idx").on(t.taskId, t.id),
    index("telemetry_run_idx").on(t.runId, t.id),
    index("telemetry_session_idx").on(t.sessionId, t.id),
    // Windowed rollups read this range with the columns they count, never the table.
    index("telemetry_created_idx").on(t.createdAt, t.source, t.outcome, t.kind),
    index("telemetry_failed_idx").on(t.createdAt, t.id).where(sql`outcome = 'failed'`),
    index("telemetry_task_failed_idx").on(t.taskId, t.createdAt, t.id).where(sql`outcome = 'failed'`),
  ],
);

export type TelemetryEventRow = typeof telemetryEvents.$inferSelect;

export const SEGMENT_MODES = ["events", "pane"] as const;
export type SegmentMode = (typeof SEGMENT_MODES)[number];

/**
 * Transcript segments kept by `transcript-capture`: a session's new transcript text (or its pane
 * screen) at the time, deduplicated by content hash per session. Pruning drops `content` and
 * keeps the metadata (hash, sizes, event range, times).
 */
export const transcriptSegments = sqliteTable(
  "transcript_segments",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    taskId: text("task_id").notNull(),
    sessionId: text("session_id").notNull(),
    role: text("role").notNull(),
    mode: text("mode", { enum: SEGMENT_MODES }).notNull(),
    contentHash: text("content_hash").notNull(),
    content: text("content"),
    bytes: integer("bytes").notNull(),
    lines: integer("lines").notNull(),
    firstEventId: integer("first_event_id"),
    lastEventId: integer("last_event_id"),
    createdBy: text("created_by").notNull(),
    createdAt: integer("created_at").notNull(),
    prunedAt: integer("pruned_at"),
  },
  (t) => [
    uniqueIndex("transcript_segments_dedup_uq").on(t.sessionId, t.mode, t.contentHash),
    index("transcript_segments_task_idx").on(t.taskId, t.id),
    index("transcript_segments_session_idx").on(t.sessionId, t.mode, t.id),
    // Segments that still hold content: what a prune walks.
    index("transcript_segments_content_idx").on(t.sessionId, t.id).where(sql`content IS NOT NULL`),
  ],
);

export type TranscriptSegmentRow = typeof transcriptSegments.$inferSelect;
