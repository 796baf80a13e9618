// Closed lists of values: enums of table columns (schema/*.ts) and of API fields (the groups'
// schemas). No imports, on purpose: the CLI loads this module at start-up to check option values
// (OptionSpec.choices in local-runner/cli/spec.ts), where drizzle and zod must not load. The
// modules that used to define these re-export them under the same names.

// schema/sessions.ts
export const SESSION_ROLES = ["worker", "manager"] as const;
export const SESSION_STATES = ["active", "gone"] as const;

// schema/tasks.ts
export const TASK_STATES = ["active", "finished"] as const;

// schema/bindings.ts
export const BINDING_STATES = ["active", "ended"] as const;

// schema/messages.ts
export const MSG_TYPES = ["request", "reply", "notify", "ping", "help", "lifecycle"] as const;

// schema/commands.ts
/**
 * Side effects Switchyard performs; every one is a durable row before it happens. nudge,
 * interrupt, capture, stop and spawn are host commands (executed on the session's host);
 * notify_manager / nudge_worker route a message to a task's bound session; deliver pushes an
 * inbox item into a tmux pane; continue_iteration hands a loop's next pass to the worker.
 */
export const COMMAND_TYPES = ["nudge", "interrupt", "capture", "stop", "spawn", "notify_manager", "nudge_worker", "deliver", "continue_iteration"] as const;
export const COMMAND_STATES = ["pending", "running", "succeeded", "failed", "dead", "ambiguous", "dry_run"] as const;

// schema/broker.ts
export const ADVICE_STATES = ["queued", "draft_ready", "owner_input_required", "approved", "rejected", "sent", "failed"] as const;
export const JOB_STATES = ["queued", "running", "draft_ready", "owner_input_required", "failed"] as const;
export const RUN_MODES = ["supervised", "overnight_dry_run", "scoped_auto_send"] as const;
export const RUN_STATES = ["created", "running", "stopped"] as const;

// schema/gates.ts
/** timer: closes when its timeout has elapsed (the patrol closes it); human and mail: closed by `gate close`. */
export const GATE_TYPES = ["timer", "human", "mail"] as const;
export const GATE_STATES = ["open", "closed"] as const;

// schema/convoys.ts
export const CONVOY_STATES = ["open", "closed"] as const;

// schema/coordination.ts
export const PLAN_STATUSES = ["draft", "active", "done", "abandoned"] as const;

// schema/loops.ts
export const LOOP_EVIDENCE_STATUSES = ["satisfied", "failed"] as const;

// schema/supervision.ts
export const MANAGER_MODES = ["light", "guided", "strict"] as const;
export const NUDGE_ON_COMPLETION = ["off", "ask-operator", "auto-review", "auto-proceed"] as const;
export const CRITERION_STATUSES = ["proposed", "accepted", "satisfied", "deferred", "rejected"] as const;
/** The statuses a criterion may start in when it is added; satisfied and rejected are reached by acting on it. */
export const CRITERION_ADD_STATUSES = ["proposed", "accepted", "deferred"] as const;
export const CRITERION_SOURCES = ["worker_proposed", "manager_inferred"] as const;
export const EPILOGUE_STEPS = ["run-tools", "draft-pr", "subagent-review", "record-handoff"] as const;
export const CONTINUATION_ROLES = ["worker", "manager"] as const;

// schema/telemetry.ts
export const TELEMETRY_OUTCOMES = ["ok", "failed", "info"] as const;
export const SEGMENT_MODES = ["events", "pane"] as const;

// schema/observe.ts
export const WORKER_STATES = ["busy", "idle", "unknown"] as const;

// schema/hooks.ts
/** Agent CLIs whose hook payloads Switchyard accepts. */
export const HOOK_AGENTS = ["claude", "codex"] as const;

// functions/app-loop/schema.ts
export const DELIVERY_STATUSES = ["sent", "skipped", "blocked"] as const;

// functions/audit/schema.ts
export const REPLAY_FORMATS = ["compact", "timeline", "transcript", "full-transcript"] as const;

// functions/queue/schema.ts
export const HOST_ENQUEUE_TYPES = ["nudge", "interrupt", "capture"] as const;

// functions/actuate/agents.ts
export const AGENT_KINDS = ["codex", "claude"] as const;
export const CODEX_SANDBOXES = ["read-only", "workspace-write", "danger-full-access"] as const;
export const CODEX_APPROVALS = ["untrusted", "on-failure", "on-request", "never"] as const;

// functions/broker/runs/schema.ts
/**
 * Every limit a run contract can carry. Each is "at most N": the run stops at the moment an
 * action would go past N (see enforce.ts for how each one is measured).
 */
export const LIMIT_NAMES = [
  "max_runtime_minutes",
  "max_requests_total",
  "max_drafts_total",
  "max_sends_total",
  "max_sends_per_thread",
  "max_errors_total",
  "max_consecutive_errors",
  "max_duplicate_drafts",
  "max_idle_minutes",
] as const;
/**
 * Conditions under which a run stops. `owner_input_required` is ours beyond the runbook's four:
 * the fail-closed policy layer decided the owner must weigh in on a request, and an unattended
 * run that keeps drafting around such requests hides them until morning.
 */
export const STOP_CONDITIONS = [
  "missing_approval",
  "ambiguous_or_unknown_recipient",
  "runtime_or_budget_limit",
  "owner_kill_switch",
  "owner_input_required",
] as const;
/** Contract fields a validation schema may require to be set. */
export const RUN_FIELDS = ["objective", "project", "target_session", "owner_session_id", "message_type", "expires_at", ...LIMIT_NAMES] as const;
/** Message types a run may handle; the broker only answers requests. */
export const RUN_MESSAGE_TYPES = ["request"] as const;

// functions/broker/schema.ts
/** Whether drafting may rely on online/current information (deny by default). */
export const RESEARCH_POLICIES = ["deny", "allow"] as const;

// functions/orchestrator/schema.ts
/** Which drafter an orchestrator pass uses; auto: the external one when configured, else built-in. */
export const DRAFTERS = ["auto", "builtin", "external"] as const;

// functions/admin/schema.ts
/** What a minted token may do (session tokens come from registration, not minting). */
export const TOKEN_SCOPES = ["daemon", "runner", "owner", "hook"] as const;

// functions/patrol/schema.ts
/** Owner notices by acknowledgement. */
export const NOTICE_STATES = ["pending", "acked"] as const;
