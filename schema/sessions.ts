import { sql } from "drizzle-orm";
import { index, integer, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";
import { SESSION_ROLES, SESSION_STATES } from "./enums.ts";

// In schema/enums.ts, which the CLI loads (without drizzle or zod) to check option values.
export { SESSION_ROLES, SESSION_STATES };

export type SessionRole = (typeof SESSION_ROLES)[number];

export type SessionState = (typeof SESSION_STATES)[number];

export const TRANSCRIPT_KINDS = ["codex", "claude"] as const;
export type TranscriptKind = (typeof TRANSCRIPT_KINDS)[number];

/** One registered agent session (worker or manager). */
export const sessions = sqliteTable(
  "sessions",
  {
    id: text("id").primaryKey(),
    name: text("name").notNull(),
    role: text("role", { enum: SESSION_ROLES }).notNull(),
    state: text("state", { enum: SESSION_STATES }).notNull().default("active"),
    pid: integer("pid"),
    pidStartedAt: integer("pid_started_at"),
    host: text("host"),
    cwd: text("cwd"),
    tmuxSession: text("tmux_session"),
    transcriptPath: text("transcript_path"),
    transcriptKind: text("transcript_kind", { enum: TRANSCRIPT_KINDS }),
    /** The agent's own id for the conversation, read from the transcript's first records. */
    agentSessionId: text("agent_session_id"),
    threadId: text("thread_id"),
    threadTitle: text("thread_title"),
    tokenId: text("token_id"),
    lastHeartbeatAt: integer("last_heartbeat_at"),
    createdAt: integer("created_at").notNull(),
    updatedAt: integer("updated_at").notNull(),
    goneAt: integer("gone_at"),
  },
  (t) => [
    // A name identifies one live session; gone rows keep their names for history.
    uniqueIndex("sessions_active_name_uq").on(t.name).where(sql`state = 'active'`),
    // Every session with a name, active first then newest (show), and the gone rows of a name.
    index("sessions_name_idx").on(t.name, t.state, sql`${t.createdAt} desc`),
    // A name's newest registration in any state (dispatch-status, a message to a gone session),
    // and a name's page of the session list (with id, so the page order needs no sort).
    index("sessions_name_created_idx").on(t.name, t.createdAt, t.id),
    // List pages in (created_at, id) order: by state, by role and state, and over all rows.
    index("sessions_role_state_idx").on(t.role, t.state, t.createdAt, t.id),
    // By role over every state (`sessions --role worker --state all`).
    index("sessions_role_created_idx").on(t.role, t.createdAt, t.id),
    index("sessions_state_created_idx").on(t.state, t.createdAt, t.id),
    index("sessions_created_idx").on(t.createdAt, t.id),
    // Session GC walks the active sessions in id order, a window at a time.
    index("sessions_state_id_idx").on(t.state, t.id),
    // "Is this transcript already some active session's?" at registration, and which active
    // session a hook event names by its transcript.
    index("sessions_active_transcript_idx").on(t.transcriptPath).where(sql`state = 'active'`),
    // A message addressed by an app thread title (functions/messages/recipient.ts reads it with
    // every send's lookup, so it must not walk the active sessions).
    index("sessions_active_title_idx").on(t.threadTitle).where(sql`state = 'active'`),
    // A Codex hook event names the agent's thread, not our session.
    index("sessions_thread_idx").on(t.threadId),
    // Looked up when a session's own hook token reports an agent session id new to it (functions/hooks/ingest.ts).
    index("sessions_agent_session_idx").on(t.agentSessionId),
  ],
);

export type SessionRow = typeof sessions.$inferSelect;
