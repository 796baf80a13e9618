CREATE TABLE `hook_events` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`session_id` text NOT NULL,
	`agent` text NOT NULL,
	`event_name` text NOT NULL,
	`event_key` text NOT NULL,
	`agent_session_id` text,
	`turn_id` text,
	`transcript_path` text,
	`cwd` text,
	`state_after` text,
	`payload_json` text NOT NULL,
	`received_at` integer NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `hook_events_key_uq` ON `hook_events` (`event_key`);--> statement-breakpoint
CREATE INDEX `hook_events_session_idx` ON `hook_events` (`session_id`,`id`);--> statement-breakpoint
CREATE TABLE `hook_states` (
	`session_id` text PRIMARY KEY NOT NULL,
	`agent` text NOT NULL,
	`state` text NOT NULL,
	`event_name` text NOT NULL,
	`last_event_id` integer NOT NULL,
	`agent_session_id` text,
	`turn_id` text,
	`state_at` integer NOT NULL,
	`last_event_at` integer NOT NULL,
	`events` integer DEFAULT 0 NOT NULL,
	`pending_transcript_path` text
);
--> statement-breakpoint
CREATE INDEX `hook_states_agent_session_idx` ON `hook_states` (`agent_session_id`);--> statement-breakpoint
CREATE TABLE `task_hook_settings` (
	`task_id` text PRIMARY KEY NOT NULL,
	`reprime_on_reset` integer DEFAULT false NOT NULL,
	`updated_at` integer NOT NULL
);
--> statement-breakpoint
ALTER TABLE `manager_cycles` ADD `divergence` text;--> statement-breakpoint
ALTER TABLE `transcript_events` ADD `turn_id` text;--> statement-breakpoint
CREATE INDEX `sessions_thread_idx` ON `sessions` (`thread_id`);