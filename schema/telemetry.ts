import { sql } from "drizzle-orm";
import { index, integer, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";
import { TELEMETRY_OUTCOMES, SEGMENT_MODES } from "./enums.ts";

// In schema/enums.ts, which the CLI loads (without drizzle or zod) to check option values.
export { TELEMETRY_OUTCOMES, SEGMENT_MODES };

/** Where a telemetry row came from: the audit log, a cycle, a command, an attempt, an inbox item. */
export const TELEMETRY_SOURCES = ["audit", "cycle", "command", "attempt", "inbox"] as const;
export type TelemetrySource = (typeof TELEMETRY_SOURCES)[number];

export type TelemetryOutcome = (typeof TELEMETRY_OUTCOMES)[number];

/**
 * One structured stream of what happened, for search and triage. Rows come from the tables where
 * things happen, through SQL so no code path can forget them: cycles, commands and attempts by
 * triggers in the same statement as the change (the telemetry_fts migration); audit events,
 * which nearly every mutation writes, in batches (`telemetry_pending`, functions/telemetry/feed.ts).
 * `summary` holds identifiers, states and counts only, never transcript, pane, prompt or
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
    // `telemetry --outcome O` with no other filter, newest first (functions/telemetry/search.ts).
    // One partial index per outcome, not (outcome, id): that one would draw the failure windows
    // above off their (created_at, id) index into a sort.
    index("telemetry_ok_id_idx").on(t.id).where(sql`outcome = 'ok'`),
    index("telemetry_failed_id_idx").on(t.id).where(sql`outcome = 'failed'`),
    index("telemetry_info_id_idx").on(t.id).where(sql`outcome = 'info'`),
    index("telemetry_task_failed_idx").on(t.taskId, t.createdAt, t.id).where(sql`outcome = 'failed'`),
    // A run's failures in a window (a dispatcher's run id lasts as long as the dispatcher).
    index("telemetry_run_failed_idx").on(t.runId, t.createdAt, t.id).where(sql`outcome = 'failed'`),
  ],
);

export type TelemetryEventRow = typeof telemetryEvents.$inferSelect;

/**
 * Audit events whose telemetry row is not written yet, in insertion order. A trigger on `events`
 * adds one row here (a small insert into a table that stays near empty) instead of the telemetry
 * row itself, whose summary, six indexes and full-text entry cost more than the rest of a typical
 * mutation's commit; the feed (functions/telemetry/feed.ts) writes those rows for many events in
 * one transaction and deletes them from here in the same commit. Readers of telemetry catch up first.
 */
export const telemetryPending = sqliteTable("telemetry_pending", {
  // No AUTOINCREMENT: only the order of the rows present matters, and the table empties often.
  seq: integer("seq").primaryKey(),
  eventId: text("event_id").notNull(),
});

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
