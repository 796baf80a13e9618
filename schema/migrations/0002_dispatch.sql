CREATE TABLE `dispatchers` (
	`id` text PRIMARY KEY NOT NULL,
	`host` text,
	`pid` integer,
	`state` text NOT NULL,
	`dry_run` integer DEFAULT false NOT NULL,
	`iteration` integer DEFAULT 0 NOT NULL,
	`processed` integer DEFAULT 0 NOT NULL,
	`last_report_json` text,
	`started_at` integer NOT NULL,
	`heartbeat_at` integer NOT NULL,
	`stopped_at` integer
);
--> statement-breakpoint
CREATE TABLE `inbox_items` (
	`id` text PRIMARY KEY NOT NULL,
	`target_session_id` text NOT NULL,
	`source_session_id` text,
	`task_id` text,
	`binding_id` text,
	`signal_type` text NOT NULL,
	`message_id` text,
	`source_event_id` integer,
	`dedup_key` text,
	`correlation_id` text,
	`payload_json` text NOT NULL,
	`delivery_mode` text NOT NULL,
	`delivery_command_id` text,
	`delivered_at` integer,
	`consumed_at` integer,
	`consumed_by` text,
	`created_at` integer NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `inbox_items_dedup_uq` ON `inbox_items` (`dedup_key`);--> statement-breakpoint
CREATE INDEX `inbox_items_target_idx` ON `inbox_items` (`target_session_id`,`consumed_at`,`created_at`);--> statement-breakpoint
CREATE INDEX `inbox_items_task_idx` ON `inbox_items` (`task_id`,`created_at`);--> statement-breakpoint
CREATE TABLE `messages` (
	`id` text PRIMARY KEY NOT NULL,
	`thread_id` text NOT NULL,
	`correlation_id` text,
	`msg_type` text NOT NULL,
	`from_session_id` text,
	`from_actor` text NOT NULL,
	`to_session_id` text NOT NULL,
	`in_reply_to` text,
	`project` text,
	`subject` text,
	`body` text NOT NULL,
	`created_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `messages_to_idx` ON `messages` (`to_session_id`,`created_at`);--> statement-breakpoint
CREATE INDEX `messages_thread_idx` ON `messages` (`thread_id`,`created_at`);--> statement-breakpoint
CREATE INDEX `messages_type_idx` ON `messages` (`msg_type`,`created_at`);--> statement-breakpoint
ALTER TABLE `bindings` ADD `event_watermark` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `commands` ADD `next_attempt_at` integer;--> statement-breakpoint
ALTER TABLE `commands` ADD `required_permission` text;