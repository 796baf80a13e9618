CREATE TABLE `sessions` (
	`id` text PRIMARY KEY NOT NULL,
	`name` text NOT NULL,
	`role` text NOT NULL,
	`state` text DEFAULT 'active' NOT NULL,
	`pid` integer,
	`pid_started_at` integer,
	`host` text,
	`cwd` text,
	`tmux_session` text,
	`transcript_path` text,
	`transcript_kind` text,
	`thread_id` text,
	`thread_title` text,
	`token_id` text,
	`last_heartbeat_at` integer,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL,
	`gone_at` integer
);
--> statement-breakpoint
CREATE UNIQUE INDEX `sessions_active_name_uq` ON `sessions` (`name`) WHERE state = 'active';--> statement-breakpoint
CREATE INDEX `sessions_role_state_idx` ON `sessions` (`role`,`state`);--> statement-breakpoint
CREATE TABLE `tasks` (
	`id` text PRIMARY KEY NOT NULL,
	`name` text NOT NULL,
	`goal` text,
	`summary` text,
	`state` text DEFAULT 'active' NOT NULL,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL,
	`finished_at` integer
);
--> statement-breakpoint
CREATE UNIQUE INDEX `tasks_name_unique` ON `tasks` (`name`);--> statement-breakpoint
CREATE INDEX `tasks_state_idx` ON `tasks` (`state`);--> statement-breakpoint
CREATE TABLE `bindings` (
	`id` text PRIMARY KEY NOT NULL,
	`task_id` text NOT NULL,
	`worker_session_id` text NOT NULL,
	`manager_session_id` text NOT NULL,
	`state` text DEFAULT 'active' NOT NULL,
	`created_at` integer NOT NULL,
	`ended_at` integer,
	FOREIGN KEY (`task_id`) REFERENCES `tasks`(`id`) ON UPDATE no action ON DELETE no action,
	FOREIGN KEY (`worker_session_id`) REFERENCES `sessions`(`id`) ON UPDATE no action ON DELETE no action,
	FOREIGN KEY (`manager_session_id`) REFERENCES `sessions`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE UNIQUE INDEX `bindings_active_task_uq` ON `bindings` (`task_id`) WHERE state = 'active';--> statement-breakpoint
CREATE UNIQUE INDEX `bindings_active_worker_uq` ON `bindings` (`worker_session_id`) WHERE state = 'active';--> statement-breakpoint
CREATE INDEX `bindings_manager_idx` ON `bindings` (`manager_session_id`,`state`);--> statement-breakpoint
CREATE TABLE `events` (
	`id` text PRIMARY KEY NOT NULL,
	`kind` text NOT NULL,
	`task_id` text,
	`session_id` text,
	`actor` text NOT NULL,
	`payload_json` text NOT NULL,
	`created_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `events_task_idx` ON `events` (`task_id`,`created_at`);--> statement-breakpoint
CREATE INDEX `events_session_idx` ON `events` (`session_id`,`created_at`);--> statement-breakpoint
CREATE TABLE `idempotency_keys` (
	`principal` text NOT NULL,
	`key` text NOT NULL,
	`method` text NOT NULL,
	`path` text NOT NULL,
	`request_hash` text NOT NULL,
	`state` text NOT NULL,
	`status_code` integer,
	`response_body` text,
	`created_at` integer NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `idempotency_keys_principal_key_uq` ON `idempotency_keys` (`principal`,`key`);--> statement-breakpoint
CREATE TABLE `tokens` (
	`id` text PRIMARY KEY NOT NULL,
	`kind` text NOT NULL,
	`secret_hash` text NOT NULL,
	`host` text,
	`session_id` text,
	`label` text,
	`created_at` integer NOT NULL,
	`revoked_at` integer
);
--> statement-breakpoint
CREATE UNIQUE INDEX `tokens_secret_hash_unique` ON `tokens` (`secret_hash`);--> statement-breakpoint
CREATE INDEX `tokens_kind_idx` ON `tokens` (`kind`);--> statement-breakpoint
CREATE TABLE `cron_runs` (
	`id` text PRIMARY KEY NOT NULL,
	`name` text NOT NULL,
	`slot_key` text,
	`runner` text NOT NULL,
	`state` text NOT NULL,
	`report_json` text,
	`error` text,
	`started_at` integer NOT NULL,
	`finished_at` integer
);
--> statement-breakpoint
CREATE INDEX `cron_runs_name_idx` ON `cron_runs` (`name`,`started_at`);--> statement-breakpoint
CREATE TABLE `cron_slots` (
	`slot_key` text PRIMARY KEY NOT NULL,
	`owner` text NOT NULL,
	`claimed_at` integer NOT NULL
);
