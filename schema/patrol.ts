import { sql } from "drizzle-orm";
import { index, integer, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";

export const PATROL_RUN_STATES = ["running", "succeeded", "failed"] as const;
export type PatrolRunState = (typeof PATROL_RUN_STATES)[number];

export const PATROL_STEP_STATES = ["succeeded", "failed", "skipped"] as const;
export type PatrolStepState = (typeof PATROL_STEP_STATES)[number];

/** One patrol run: a pass over the step DAG, started by the cron, the CLI or the API. */
export const patrolRuns = sqliteTable(
  "patrol_runs",
  {
    id: text("id").primaryKey(),
    trigger: text("trigger").notNull(),
    actor: text("actor").notNull(),
    /** Set when the run was limited to one step (`patrol run --step S`). */
    onlyStep: text("only_step"),
    apply: integer("apply", { mode: "boolean" }).notNull().default(false),
    state: text("state", { enum: PATROL_RUN_STATES }).notNull(),
    stepsSucceeded: integer("steps_succeeded").notNull().default(0),
    stepsFailed: integer("steps_failed").notNull().default(0),
    stepsSkipped: integer("steps_skipped").notNull().default(0),
    error: text("error"),
    startedAt: integer("started_at").notNull(),
    finishedAt: integer("finished_at"),
  },
  (t) => [index("patrol_runs_started_idx").on(t.startedAt, t.id)],
);

export type PatrolRunRow = typeof patrolRuns.$inferSelect;

/** The result of one step of one run, in DAG order (`ordinal`). */
export const patrolSteps = sqliteTable(
  "patrol_steps",
  {
    id: text("id").primaryKey(),
    runId: text("run_id").notNull(),
    ordinal: integer("ordinal").notNull(),
    step: text("step").notNull(),
    state: text("state", { enum: PATROL_STEP_STATES }).notNull(),
    /** Why a step failed or was skipped. */
    reason: text("reason"),
    report: text("report_json", { mode: "json" }).$type<Record<string, unknown>>(),
    startedAt: integer("started_at").notNull(),
    finishedAt: integer("finished_at").notNull(),
  },
  (t) => [uniqueIndex("patrol_steps_run_uq").on(t.runId, t.ordinal)],
);

export type PatrolStepRow = typeof patrolSteps.$inferSelect;

/**
 * The patrol's own row (id 'patrol'): its heartbeat (written at the start of a run and after
 * every step), the lease that keeps two runs from overlapping, its configuration, the session
 * that is its inbox, and the cursors of the steps that walk large tables a window at a time.
 */
export const patrolState = sqliteTable("patrol_state", {
  id: text("id").primaryKey(),
  sessionId: text("session_id"),
  beatAt: integer("beat_at"),
  beatRunId: text("beat_run_id"),
  beatStep: text("beat_step"),
  leaseHolder: text("lease_holder"),
  leaseExpiresAt: integer("lease_expires_at"),
  config: text("config_json", { mode: "json" }).$type<Record<string, unknown>>(),
  cursors: text("cursors_json", { mode: "json" }).$type<Record<string, string>>(),
  updatedAt: integer("updated_at").notNull(),
});

export type PatrolStateRow = typeof patrolState.$inferSelect;

export const NOTIFICATION_RECIPIENTS = ["owner", "session"] as const;
export type NotificationRecipient = (typeof NOTIFICATION_RECIPIENTS)[number];

/**
 * Notifications the patrol and the coordination rules owe someone. A row is written in the same
 * batch as the state change that causes it (a gate closing, a convoy completing, a dependency
 * resolving, an escalation), so the change and the debt commit together; `dedup_key` makes a
 * second row for the same cause impossible. Rows for the owner are the owner's inbox (read with
 * `notices`, acknowledged with `notices ack`); rows for a session are delivered into its inbox
 * by the fire-notifications step, whose inbox item carries a dedup key derived from the row id,
 * so delivery happens exactly once however often it is retried.
 */
export const notifications = sqliteTable(
  "notifications",
  {
    id: text("id").primaryKey(),
    dedupKey: text("dedup_key").notNull(),
    recipient: text("recipient", { enum: NOTIFICATION_RECIPIENTS }).notNull(),
    targetSessionId: text("target_session_id"),
    kind: text("kind").notNull(),
    subject: text("subject").notNull(),
    body: text("body").notNull(),
    payload: text("payload_json", { mode: "json" }).$type<Record<string, unknown>>().notNull(),
    taskId: text("task_id"),
    createdAt: integer("created_at").notNull(),
    deliveredAt: integer("delivered_at"),
    inboxItemId: text("inbox_item_id"),
    deliveryError: text("delivery_error"),
    ackedAt: integer("acked_at"),
    ackedBy: text("acked_by"),
  },
  (t) => [
    uniqueIndex("notifications_dedup_uq").on(t.dedupKey),
    index("notifications_undelivered_idx").on(t.createdAt, t.id).where(sql`delivered_at IS NULL`),
    index("notifications_recipient_idx").on(t.recipient, t.ackedAt, t.createdAt, t.id),
    // `notices --state all` and `--state acked` page in (created_at, id) order without a sort.
    index("notifications_recipient_created_idx").on(t.recipient, t.createdAt, t.id),
    index("notifications_acked_created_idx").on(t.recipient, t.createdAt, t.id).where(sql`acked_at IS NOT NULL`),
  ],
);

export type NotificationRow = typeof notifications.$inferSelect;

export const HEALTH_KINDS = ["dispatcher", "runner", "patrol", "session"] as const;
export type HealthKind = (typeof HEALTH_KINDS)[number];

/** Unresponsive-cycle bookkeeping per watched component, kept across patrol runs. */
export const healthStates = sqliteTable(
  "health_states",
  {
    /** `<kind>:<id>`, e.g. `session:ses_…`, `dispatcher:up`, `runner:build-box`. */
    component: text("component").primaryKey(),
    kind: text("kind", { enum: HEALTH_KINDS }).notNull(),
    label: text("label").notNull(),
    unresponsiveCycles: integer("unresponsive_cycles").notNull().default(0),
    lastSeenHealthyAt: integer("last_seen_healthy_at"),
    lastCheckedAt: integer("last_checked_at").notNull(),
    /** What the last check saw (the signals and their values). */
    signals: text("signals_json", { mode: "json" }).$type<Record<string, unknown>>(),
    /** Second-signal baselines: transcript size and a pane digest at the last check. */
    transcriptSize: integer("transcript_size"),
    paneDigest: text("pane_digest"),
    lastAction: text("last_action"),
    lastActionAt: integer("last_action_at"),
    escalatedAt: integer("escalated_at"),
  },
  (t) => [index("health_states_cycles_idx").on(t.unresponsiveCycles, t.kind)],
);

export type HealthStateRow = typeof healthStates.$inferSelect;

export const SPAWN_STATES = ["pending", "triggered", "started"] as const;
export type SpawnState = (typeof SPAWN_STATES)[number];

/**
 * Every tmux session Switchyard started, with the pane pid it recorded and the spawn generation
 * of the session name (1 for the first spawn under a name, 2 after a respawn…). `pending` rows
 * wait for trigger-pending-spawns to see the agent's ready prompt and nudge it once; session-gc
 * kills only tmux sessions listed here, by recorded name and pane pid, and stamps `reaped_at`.
 */
export const spawns = sqliteTable(
  "spawns",
  {
    id: text("id").primaryKey(),
    sessionId: text("session_id").notNull(),
    sessionName: text("session_name").notNull(),
    generation: integer("generation").notNull(),
    agent: text("agent").notNull(),
    host: text("host"),
    tmuxSession: text("tmux_session").notNull(),
    panePid: integer("pane_pid"),
    state: text("state", { enum: SPAWN_STATES }).notNull(),
    beginText: text("begin_text"),
    triggerCommandId: text("trigger_command_id"),
    createdAt: integer("created_at").notNull(),
    triggeredAt: integer("triggered_at"),
    reapedAt: integer("reaped_at"),
    reapReason: text("reap_reason"),
  },
  (t) => [
    uniqueIndex("spawns_generation_uq").on(t.sessionName, t.generation),
    index("spawns_session_idx").on(t.sessionId),
    index("spawns_pending_idx").on(t.createdAt, t.id).where(sql`state = 'pending'`),
    index("spawns_live_idx").on(t.host, t.id).where(sql`reaped_at IS NULL`),
  ],
);

export type SpawnRow = typeof spawns.$inferSelect;

/** Per-plugin state: when it last ran and how it went (the gates read this). */
export const pluginStates = sqliteTable("plugin_states", {
  name: text("name").primaryKey(),
  runs: integer("runs").notNull().default(0),
  lastRunAt: integer("last_run_at"),
  lastState: text("last_state"),
  lastRunId: text("last_run_id"),
  /** For event gates: the newest audit event id the plugin has already reacted to. */
  lastEventId: text("last_event_id"),
  updatedAt: integer("updated_at").notNull(),
});

export type PluginStateRow = typeof pluginStates.$inferSelect;

export const PLUGIN_RUN_STATES = ["succeeded", "failed", "timed_out"] as const;

/** One execution of a plugin's command, with its recorded output. */
export const pluginRuns = sqliteTable(
  "plugin_runs",
  {
    id: text("id").primaryKey(),
    plugin: text("plugin").notNull(),
    patrolRunId: text("patrol_run_id"),
    state: text("state", { enum: PLUGIN_RUN_STATES }).notNull(),
    exitCode: integer("exit_code"),
    stdout: text("stdout").notNull(),
    stderr: text("stderr").notNull(),
    durationMs: integer("duration_ms").notNull(),
    startedAt: integer("started_at").notNull(),
  },
  (t) => [index("plugin_runs_plugin_idx").on(t.plugin, t.startedAt), index("plugin_runs_started_idx").on(t.startedAt)],
);

export type PluginRunRow = typeof pluginRuns.$inferSelect;
