CREATE TABLE `health_states` (
	`component` text PRIMARY KEY NOT NULL,
	`kind` text NOT NULL,
	`label` text NOT NULL,
	`unresponsive_cycles` integer DEFAULT 0 NOT NULL,
	`last_seen_healthy_at` integer,
	`last_checked_at` integer NOT NULL,
	`signals_json` text,
	`transcript_size` integer,
	`pane_digest` text,
	`last_action` text,
	`last_action_at` integer,
	`escalated_at` integer
);
--> statement-breakpoint
CREATE INDEX `health_states_cycles_idx` ON `health_states` (`unresponsive_cycles`,`kind`);--> statement-breakpoint
CREATE TABLE `notifications` (
	`id` text PRIMARY KEY NOT NULL,
	`dedup_key` text NOT NULL,
	`recipient` text NOT NULL,
	`target_session_id` text,
	`kind` text NOT NULL,
	`subject` text NOT NULL,
	`body` text NOT NULL,
	`payload_json` text NOT NULL,
	`task_id` text,
	`created_at` integer NOT NULL,
	`delivered_at` integer,
	`inbox_item_id` text,
	`delivery_error` text,
	`acked_at` integer,
	`acked_by` text
);
--> statement-breakpoint
CREATE UNIQUE INDEX `notifications_dedup_uq` ON `notifications` (`dedup_key`);--> statement-breakpoint
CREATE INDEX `notifications_undelivered_idx` ON `notifications` (`created_at`,`id`) WHERE delivered_at IS NULL;--> statement-breakpoint
CREATE INDEX `notifications_recipient_idx` ON `notifications` (`recipient`,`acked_at`,`created_at`,`id`);--> statement-breakpoint
CREATE TABLE `patrol_runs` (
	`id` text PRIMARY KEY NOT NULL,
	`trigger` text NOT NULL,
	`actor` text NOT NULL,
	`only_step` text,
	`apply` integer DEFAULT false NOT NULL,
	`state` text NOT NULL,
	`steps_succeeded` integer DEFAULT 0 NOT NULL,
	`steps_failed` integer DEFAULT 0 NOT NULL,
	`steps_skipped` integer DEFAULT 0 NOT NULL,
	`error` text,
	`started_at` integer NOT NULL,
	`finished_at` integer
);
--> statement-breakpoint
CREATE INDEX `patrol_runs_started_idx` ON `patrol_runs` (`started_at`,`id`);--> statement-breakpoint
CREATE TABLE `patrol_state` (
	`id` text PRIMARY KEY NOT NULL,
	`session_id` text,
	`beat_at` integer,
	`beat_run_id` text,
	`beat_step` text,
	`lease_holder` text,
	`lease_expires_at` integer,
	`config_json` text,
	`cursors_json` text,
	`updated_at` integer NOT NULL
);
--> statement-breakpoint
CREATE TABLE `patrol_steps` (
	`id` text PRIMARY KEY NOT NULL,
	`run_id` text NOT NULL,
	`ordinal` integer NOT NULL,
	`step` text NOT NULL,
	`state` text NOT NULL,
	`reason` text,
	`report_json` text,
	`started_at` integer NOT NULL,
	`finished_at` integer NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `patrol_steps_run_uq` ON `patrol_steps` (`run_id`,`ordinal`);--> statement-breakpoint
CREATE TABLE `plugin_runs` (
	`id` text PRIMARY KEY NOT NULL,
	`plugin` text NOT NULL,
	`patrol_run_id` text,
	`state` text NOT NULL,
	`exit_code` integer,
	`stdout` text NOT NULL,
	`stderr` text NOT NULL,
	`duration_ms` integer NOT NULL,
	`started_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `plugin_runs_plugin_idx` ON `plugin_runs` (`plugin`,`started_at`);--> statement-breakpoint
CREATE TABLE `plugin_states` (
	`name` text PRIMARY KEY NOT NULL,
	`runs` integer DEFAULT 0 NOT NULL,
	`last_run_at` integer,
	`last_state` text,
	`last_run_id` text,
	`last_event_id` text,
	`updated_at` integer NOT NULL
);
--> statement-breakpoint
CREATE TABLE `spawns` (
	`id` text PRIMARY KEY NOT NULL,
	`session_id` text NOT NULL,
	`session_name` text NOT NULL,
	`generation` integer NOT NULL,
	`agent` text NOT NULL,
	`host` text,
	`tmux_session` text NOT NULL,
	`pane_pid` integer,
	`state` text NOT NULL,
	`begin_text` text,
	`trigger_command_id` text,
	`created_at` integer NOT NULL,
	`triggered_at` integer,
	`reaped_at` integer,
	`reap_reason` text
);
--> statement-breakpoint
CREATE UNIQUE INDEX `spawns_generation_uq` ON `spawns` (`session_name`,`generation`);--> statement-breakpoint
CREATE INDEX `spawns_session_idx` ON `spawns` (`session_id`);--> statement-breakpoint
CREATE INDEX `spawns_pending_idx` ON `spawns` (`created_at`,`id`) WHERE state = 'pending';--> statement-breakpoint
CREATE INDEX `spawns_live_idx` ON `spawns` (`host`,`id`) WHERE reaped_at IS NULL;--> statement-breakpoint
CREATE TABLE `gate_waiters` (
	`gate_id` text NOT NULL,
	`session_id` text NOT NULL,
	PRIMARY KEY(`gate_id`, `session_id`)
);
--> statement-breakpoint
CREATE TABLE `gates` (
	`id` text PRIMARY KEY NOT NULL,
	`type` text NOT NULL,
	`title` text,
	`state` text NOT NULL,
	`timeout_ms` integer,
	`due_at` integer,
	`created_by` text NOT NULL,
	`created_by_session_id` text,
	`created_at` integer NOT NULL,
	`closed_at` integer,
	`closed_by` text,
	`close_reason` text,
	`close_token` text
);
--> statement-breakpoint
CREATE INDEX `gates_due_idx` ON `gates` (`state`,`type`,`due_at`);--> statement-breakpoint
CREATE INDEX `gates_list_idx` ON `gates` (`state`,`created_at`,`id`);--> statement-breakpoint
CREATE INDEX `gates_created_idx` ON `gates` (`created_at`,`id`);--> statement-breakpoint
CREATE TABLE `convoy_tasks` (
	`convoy_id` text NOT NULL,
	`task_id` text NOT NULL,
	PRIMARY KEY(`convoy_id`, `task_id`)
);
--> statement-breakpoint
CREATE INDEX `convoy_tasks_task_idx` ON `convoy_tasks` (`task_id`,`convoy_id`);--> statement-breakpoint
CREATE TABLE `convoys` (
	`id` text PRIMARY KEY NOT NULL,
	`title` text NOT NULL,
	`state` text NOT NULL,
	`owner_session_id` text,
	`created_by` text NOT NULL,
	`created_at` integer NOT NULL,
	`closed_at` integer,
	`close_reason` text,
	`close_token` text,
	`reopened_at` integer
);
--> statement-breakpoint
CREATE INDEX `convoys_state_idx` ON `convoys` (`state`,`created_at`,`id`);--> statement-breakpoint
CREATE INDEX `convoys_created_idx` ON `convoys` (`created_at`,`id`);--> statement-breakpoint
CREATE TABLE `task_deps` (
	`task_id` text NOT NULL,
	`depends_on_task_id` text NOT NULL,
	`created_at` integer NOT NULL,
	`resolved_at` integer,
	`resolve_token` text,
	PRIMARY KEY(`task_id`, `depends_on_task_id`)
);
--> statement-breakpoint
CREATE INDEX `task_deps_on_idx` ON `task_deps` (`depends_on_task_id`,`task_id`);--> statement-breakpoint
CREATE INDEX `task_deps_unresolved_idx` ON `task_deps` (`task_id`,`depends_on_task_id`) WHERE resolved_at IS NULL;--> statement-breakpoint
CREATE TABLE `file_claims` (
	`id` text PRIMARY KEY NOT NULL,
	`path` text NOT NULL,
	`base` text NOT NULL,
	`session_id` text NOT NULL,
	`exclusive` integer NOT NULL,
	`note` text,
	`task_id` text,
	`created_at` integer NOT NULL,
	`expires_at` integer NOT NULL,
	`released_at` integer,
	`released_by` text
);
--> statement-breakpoint
CREATE INDEX `file_claims_live_base_idx` ON `file_claims` (`base`,`expires_at`,`id`) WHERE released_at IS NULL;--> statement-breakpoint
CREATE INDEX `file_claims_session_idx` ON `file_claims` (`session_id`,`created_at`);--> statement-breakpoint
CREATE INDEX `file_claims_created_idx` ON `file_claims` (`created_at`,`id`);--> statement-breakpoint
CREATE TABLE `plans` (
	`id` text PRIMARY KEY NOT NULL,
	`title` text NOT NULL,
	`body` text,
	`status` text NOT NULL,
	`owner_session_id` text,
	`task_id` text,
	`created_by` text NOT NULL,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `plans_status_idx` ON `plans` (`status`,`updated_at`,`id`);--> statement-breakpoint
CREATE INDEX `plans_updated_idx` ON `plans` (`updated_at`,`id`);--> statement-breakpoint
CREATE TABLE `runtime_notes` (
	`id` text PRIMARY KEY NOT NULL,
	`text` text NOT NULL,
	`task_id` text,
	`session_id` text,
	`author` text NOT NULL,
	`created_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `runtime_notes_created_idx` ON `runtime_notes` (`created_at`,`id`);--> statement-breakpoint
CREATE INDEX `runtime_notes_task_idx` ON `runtime_notes` (`task_id`,`created_at`,`id`);