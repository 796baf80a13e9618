CREATE TABLE `ingest_cursors` (
	`session_id` text PRIMARY KEY NOT NULL,
	`path` text NOT NULL,
	`identity` text NOT NULL,
	`generation` integer NOT NULL,
	`offset` integer NOT NULL,
	`lines_total` integer NOT NULL,
	`skipped_total` integer NOT NULL,
	`updated_at` integer NOT NULL
);
--> statement-breakpoint
CREATE TABLE `manager_cycles` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`task_id` text NOT NULL,
	`binding_id` text,
	`worker_session_id` text,
	`manager_session_id` text,
	`state` text NOT NULL,
	`worker_state` text,
	`notable_pattern` text,
	`status_json` text,
	`error` text,
	`created_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `manager_cycles_task_idx` ON `manager_cycles` (`task_id`,`id`);--> statement-breakpoint
CREATE TABLE `transcript_events` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`session_id` text NOT NULL,
	`generation` integer NOT NULL,
	`offset` integer NOT NULL,
	`seq` integer NOT NULL,
	`kind` text NOT NULL,
	`subtype` text NOT NULL,
	`event_at` integer,
	`text` text,
	`tool` text,
	`ingested_at` integer NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `transcript_events_source_uq` ON `transcript_events` (`session_id`,`generation`,`offset`,`seq`);--> statement-breakpoint
CREATE INDEX `transcript_events_session_kind_idx` ON `transcript_events` (`session_id`,`kind`,`id`);--> statement-breakpoint
CREATE TABLE `command_attempts` (
	`id` text PRIMARY KEY NOT NULL,
	`command_id` text NOT NULL,
	`dispatcher_id` text NOT NULL,
	`claim_generation` integer NOT NULL,
	`side_effect_started` integer DEFAULT false NOT NULL,
	`side_effect_completed` integer DEFAULT false NOT NULL,
	`result_json` text,
	`error` text,
	`started_at` integer NOT NULL,
	`finished_at` integer
);
--> statement-breakpoint
CREATE INDEX `command_attempts_command_idx` ON `command_attempts` (`command_id`,`started_at`);--> statement-breakpoint
CREATE TABLE `commands` (
	`id` text PRIMARY KEY NOT NULL,
	`type` text NOT NULL,
	`state` text NOT NULL,
	`task_id` text,
	`session_id` text,
	`host` text,
	`payload_json` text NOT NULL,
	`result_json` text,
	`error` text,
	`idempotency_key` text,
	`correlation_id` text,
	`attempts` integer DEFAULT 0 NOT NULL,
	`max_attempts` integer DEFAULT 1 NOT NULL,
	`claimed_by` text,
	`claim_generation` integer DEFAULT 0 NOT NULL,
	`lease_expires_at` integer,
	`created_by` text NOT NULL,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL,
	`completed_at` integer
);
--> statement-breakpoint
CREATE UNIQUE INDEX `commands_idempotency_uq` ON `commands` (`idempotency_key`);--> statement-breakpoint
CREATE INDEX `commands_state_idx` ON `commands` (`state`,`host`,`created_at`);--> statement-breakpoint
CREATE INDEX `commands_session_idx` ON `commands` (`session_id`,`created_at`);--> statement-breakpoint
CREATE INDEX `commands_task_idx` ON `commands` (`task_id`,`created_at`);