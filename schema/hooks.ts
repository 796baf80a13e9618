import { index, integer, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";
import { HOOK_AGENTS } from "./enums.ts";

// In schema/enums.ts, which the CLI loads (without drizzle or zod) to check option values.
export { HOOK_AGENTS };

export type HookAgent = (typeof HOOK_AGENTS)[number];

/**
 * What a session is doing according to its agent's own hooks. `waiting_for_permission` and
 * `compacting` are the states transcripts cannot show (nothing is written while a prompt is up).
 */
export const HOOK_STATES = ["busy", "idle", "waiting_for_permission", "compacting", "ended"] as const;
export type HookState = (typeof HOOK_STATES)[number];

/**
 * Every hook event accepted for a registered session, append-only. `event_key` is the
 * idempotency key of one event (the agent retrying a post, or two hooks for one moment, land
 * once). `payload` keeps the agent's fields that identify the event, never tool output.
 */
export const hookEvents = sqliteTable(
  "hook_events",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    sessionId: text("session_id").notNull(),
    agent: text("agent", { enum: HOOK_AGENTS }).notNull(),
    eventName: text("event_name").notNull(),
    eventKey: text("event_key").notNull(),
    agentSessionId: text("agent_session_id"),
    turnId: text("turn_id"),
    transcriptPath: text("transcript_path"),
    cwd: text("cwd"),
    /** The state this event moved the session to, null when it moved nothing. */
    stateAfter: text("state_after", { enum: HOOK_STATES }),
    payload: text("payload_json", { mode: "json" }).$type<Record<string, unknown>>().notNull(),
    receivedAt: integer("received_at").notNull(),
  },
  (t) => [uniqueIndex("hook_events_key_uq").on(t.eventKey), index("hook_events_session_idx").on(t.sessionId, t.id)],
);

export type HookEventRow = typeof hookEvents.$inferSelect;

/** The latest hook-derived state of each session (one row per session, updated in place). */
export const hookStates = sqliteTable(
  "hook_states",
  {
    sessionId: text("session_id").primaryKey(),
    agent: text("agent", { enum: HOOK_AGENTS }).notNull(),
    state: text("state", { enum: HOOK_STATES }).notNull(),
    /** The hook event that set the state, e.g. `Stop`. */
    eventName: text("event_name").notNull(),
    lastEventId: integer("last_event_id").notNull(),
    /** The agent's own session id (Claude session uuid, Codex thread id) as of the last event. */
    agentSessionId: text("agent_session_id"),
    turnId: text("turn_id"),
    /** Server time the state was set, and of the last event of any kind. */
    stateAt: integer("state_at").notNull(),
    lastEventAt: integer("last_event_at").notNull(),
    events: integer("events").notNull().default(0),
    /**
     * A transcript the agent announced on a reset (/clear, resume) that does not exist yet:
     * the session switches to it once the agent has written it.
     */
    pendingTranscriptPath: text("pending_transcript_path"),
  },
  (t) => [index("hook_states_agent_session_idx").on(t.agentSessionId)],
);

export type HookStateRow = typeof hookStates.$inferSelect;

/** Per-task hook behaviour, set by the owner. */
export const taskHookSettings = sqliteTable("task_hook_settings", {
  taskId: text("task_id").primaryKey(),
  /** Re-prime the worker (task bootstrap and latest handoff) when its agent resets its context. */
  reprimeOnReset: integer("reprime_on_reset", { mode: "boolean" }).notNull().default(false),
  updatedAt: integer("updated_at").notNull(),
});

export type TaskHookSettingsRow = typeof taskHookSettings.$inferSelect;
