import { sql } from "drizzle-orm";
import { index, integer, primaryKey, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";
import { ADVICE_STATES, JOB_STATES, RUN_MODES, RUN_STATES } from "./enums.ts";

// In schema/enums.ts, which the CLI loads (without drizzle or zod) to check option values.
export { ADVICE_STATES, JOB_STATES, RUN_MODES, RUN_STATES };

export type AdviceState = (typeof ADVICE_STATES)[number];

/**
 * One advice request, created from exactly one source message (`source_message_id` is unique,
 * so re-ingesting a message can never create a second request). Draft, approval and sending
 * are recorded on the same row.
 */
export const adviceRequests = sqliteTable(
  "advice_requests",
  {
    id: text("id").primaryKey(),
    sourceMessageId: text("source_message_id").notNull(),
    threadId: text("thread_id").notNull(),
    requesterSessionId: text("requester_session_id"),
    toSessionId: text("to_session_id").notNull(),
    project: text("project"),
    runId: text("run_id"),
    state: text("state", { enum: ADVICE_STATES }).notNull(),
    requestText: text("request_text").notNull(),
    contextPacket: text("context_packet_json", { mode: "json" }).$type<Record<string, unknown>>(),
    draftText: text("draft_text"),
    draftMeta: text("draft_meta_json", { mode: "json" }).$type<Record<string, unknown>>(),
    policyReason: text("policy_reason"),
    approvedText: text("approved_text"),
    approvedBy: text("approved_by"),
    approvedAt: integer("approved_at"),
    rejectedReason: text("rejected_reason"),
    rejectedAt: integer("rejected_at"),
    sentMessageId: text("sent_message_id"),
    sentAt: integer("sent_at"),
    error: text("error"),
    createdAt: integer("created_at").notNull(),
    updatedAt: integer("updated_at").notNull(),
  },
  (t) => [
    uniqueIndex("advice_requests_source_uq").on(t.sourceMessageId),
    index("advice_requests_state_idx").on(t.state, t.createdAt, t.id),
    index("advice_requests_created_idx").on(t.createdAt, t.id),
    // The owner's open queue (not yet sent or rejected) pages without reading what was settled.
    index("advice_requests_open_idx").on(t.createdAt, t.id).where(sql`state NOT IN ('sent', 'rejected')`),
    index("advice_requests_run_idx").on(t.runId, t.createdAt),
    // A run's digest lists the oldest requests waiting for the owner, one state at a time.
    // Partial, so they hold only those and no query over all of a run's advice is drawn to them
    // (SQLite uses one only when the query says `state = '<that state>'` in its text).
    index("advice_requests_run_drafted_idx").on(t.runId, t.createdAt, t.id).where(sql`state = 'draft_ready'`),
    index("advice_requests_run_owner_input_idx").on(t.runId, t.createdAt, t.id).where(sql`state = 'owner_input_required'`),
    // A task's broker actions are the advice its sessions asked for or were sent (replay, audit).
    index("advice_requests_requester_idx").on(t.requesterSessionId, t.createdAt),
    index("advice_requests_to_idx").on(t.toSessionId, t.createdAt),
  ],
);

export type AdviceRequestRow = typeof adviceRequests.$inferSelect;

export type JobState = (typeof JOB_STATES)[number];

/** Orchestrator jobs: draft one advice request, claimed under a lease like commands. */
export const orchestratorJobs = sqliteTable(
  "orchestrator_jobs",
  {
    id: text("id").primaryKey(),
    adviceId: text("advice_id").notNull(),
    state: text("state", { enum: JOB_STATES }).notNull(),
    attempts: integer("attempts").notNull().default(0),
    maxAttempts: integer("max_attempts").notNull().default(3),
    claimedBy: text("claimed_by"),
    claimGeneration: integer("claim_generation").notNull().default(0),
    leaseExpiresAt: integer("lease_expires_at"),
    lastError: text("last_error"),
    createdAt: integer("created_at").notNull(),
    updatedAt: integer("updated_at").notNull(),
    finishedAt: integer("finished_at"),
  },
  (t) => [
    uniqueIndex("orchestrator_jobs_advice_uq").on(t.adviceId),
    index("orchestrator_jobs_state_idx").on(t.state, t.createdAt, t.id),
    index("orchestrator_jobs_created_idx").on(t.createdAt, t.id),
  ],
);

export type OrchestratorJobRow = typeof orchestratorJobs.$inferSelect;

/**
 * Orchestrator jobs per state, kept by triggers on orchestrator_jobs (migration 0023): the
 * status read takes its totals from here (one row per state) instead of counting every job
 * that ever finished.
 */
export const orchestratorJobCounts = sqliteTable("orchestrator_job_counts", {
  state: text("state", { enum: JOB_STATES }).primaryKey(),
  n: integer("n").notNull().default(0),
});

export type RunMode = (typeof RUN_MODES)[number];

export type RunState = (typeof RUN_STATES)[number];

/**
 * A broker run contract. Limits, stop conditions and the validation schema are stored as
 * JSON; counters are columns so ticks can increment them atomically. The lease (owner +
 * expiry) says which daemon may process the run.
 */
export const brokerRuns = sqliteTable(
  "broker_runs",
  {
    id: text("id").primaryKey(),
    mode: text("mode", { enum: RUN_MODES }).notNull(),
    state: text("state", { enum: RUN_STATES }).notNull(),
    objective: text("objective").notNull(),
    project: text("project"),
    targetSession: text("target_session"),
    ownerSessionId: text("owner_session_id"),
    messageType: text("message_type"),
    expiresAt: integer("expires_at"),
    limits: text("limits_json", { mode: "json" }).$type<Record<string, number>>().notNull(),
    stopConditions: text("stop_conditions_json", { mode: "json" }).$type<string[]>().notNull(),
    validation: text("validation_json", { mode: "json" }).$type<Record<string, unknown>>().notNull(),
    requestsTotal: integer("requests_total").notNull().default(0),
    draftsTotal: integer("drafts_total").notNull().default(0),
    sendsTotal: integer("sends_total").notNull().default(0),
    errorsTotal: integer("errors_total").notNull().default(0),
    consecutiveErrors: integer("consecutive_errors").notNull().default(0),
    duplicateDrafts: integer("duplicate_drafts").notNull().default(0),
    lastActivityAt: integer("last_activity_at"),
    leaseOwner: text("lease_owner"),
    leaseExpiresAt: integer("lease_expires_at"),
    startedAt: integer("started_at"),
    stoppedAt: integer("stopped_at"),
    stopReason: text("stop_reason"),
    createdAt: integer("created_at").notNull(),
    updatedAt: integer("updated_at").notNull(),
  },
  (t) => [index("broker_runs_state_idx").on(t.state, t.createdAt, t.id), index("broker_runs_created_idx").on(t.createdAt, t.id)],
);

export type BrokerRunRow = typeof brokerRuns.$inferSelect;

/** Append-only log of what the broker did: run events, job events, advice transitions. */
export const brokerEvents = sqliteTable(
  "broker_events",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    runId: text("run_id"),
    jobId: text("job_id"),
    adviceId: text("advice_id"),
    kind: text("kind").notNull(),
    payload: text("payload_json", { mode: "json" }).$type<Record<string, unknown>>().notNull(),
    createdAt: integer("created_at").notNull(),
  },
  (t) => [
    index("broker_events_run_idx").on(t.runId, t.id),
    // A digest's newest errors and stop event, and a send's own reservation, without walking
    // every tick of a long run.
    index("broker_events_run_kind_idx").on(t.runId, t.kind, t.id),
    index("broker_events_job_idx").on(t.jobId, t.id),
    index("broker_events_advice_idx").on(t.adviceId, t.id),
  ],
);

/**
 * A run's broker events per kind and subject, kept by triggers on broker_events (migration
 * 0023), so status, digest and the send budget read a total instead of counting a log that
 * grows with every tick. The subject is the condition of a stop_condition_met event and the
 * thread of a send_reserved event, '' otherwise; kind '' holds the run's total of all events.
 */
export const brokerRunEventCounts = sqliteTable(
  "broker_run_event_counts",
  {
    runId: text("run_id").notNull(),
    kind: text("kind").notNull(),
    subject: text("subject").notNull(),
    n: integer("n").notNull().default(0),
  },
  (t) => [primaryKey({ columns: [t.runId, t.kind, t.subject] })],
);

/**
 * A run's advice per thread, kept by triggers on advice_requests (migration 0023): requests,
 * those with a draft, those sent, and those sent without an approval. Thread '' holds the
 * run's totals. Each tick checks its budgets and tripwires against these rows rather than
 * counting every request the run ever took on.
 */
export const brokerRunAdviceCounts = sqliteTable(
  "broker_run_advice_counts",
  {
    runId: text("run_id").notNull(),
    threadId: text("thread_id").notNull(),
    requests: integer("requests").notNull().default(0),
    drafts: integer("drafts").notNull().default(0),
    sent: integer("sent").notNull().default(0),
    unapprovedSent: integer("unapproved_sent").notNull().default(0),
  },
  (t) => [
    primaryKey({ columns: [t.runId, t.threadId] }),
    // The busiest thread over a per-thread send limit is one step down this index.
    index("broker_run_advice_counts_sent_idx").on(t.runId, t.sent),
  ],
);

/**
 * A run's advice requests by state, kept by triggers on advice_requests (migration 0025), so a
 * digest counts a long run's requests by looking up a few rows rather than walking them all.
 */
export const brokerRunAdviceStates = sqliteTable(
  "broker_run_advice_states",
  {
    runId: text("run_id").notNull(),
    state: text("state", { enum: ADVICE_STATES }).notNull(),
    n: integer("n").notNull().default(0),
  },
  (t) => [primaryKey({ columns: [t.runId, t.state] })],
);

/** Scoped auto-send approval tokens (only for scoped_auto_send runs); secrets stored hashed. */
export const approvalTokens = sqliteTable(
  "approval_tokens",
  {
    id: text("id").primaryKey(),
    runId: text("run_id").notNull(),
    secretHash: text("secret_hash").notNull(),
    toSession: text("to_session").notNull(),
    threadId: text("thread_id").notNull(),
    maxUses: integer("max_uses").notNull(),
    uses: integer("uses").notNull().default(0),
    expiresAt: integer("expires_at").notNull(),
    revokedAt: integer("revoked_at"),
    revokeReason: text("revoke_reason"),
    createdAt: integer("created_at").notNull(),
  },
  (t) => [uniqueIndex("approval_tokens_secret_uq").on(t.secretHash), index("approval_tokens_run_idx").on(t.runId)],
);

export type ApprovalTokenRow = typeof approvalTokens.$inferSelect;
