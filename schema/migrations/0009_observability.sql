CREATE TABLE `telemetry_events` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`source` text NOT NULL,
	`kind` text NOT NULL,
	`task_id` text,
	`session_id` text,
	`run_id` text,
	`actor` text,
	`ref_id` text,
	`outcome` text NOT NULL,
	`summary` text NOT NULL,
	`created_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `telemetry_task_idx` ON `telemetry_events` (`task_id`,`id`);--> statement-breakpoint
CREATE INDEX `telemetry_run_idx` ON `telemetry_events` (`run_id`,`id`);--> statement-breakpoint
CREATE INDEX `telemetry_session_idx` ON `telemetry_events` (`session_id`,`id`);--> statement-breakpoint
CREATE INDEX `telemetry_created_idx` ON `telemetry_events` (`created_at`,`source`,`outcome`,`kind`);--> statement-breakpoint
CREATE INDEX `telemetry_failed_idx` ON `telemetry_events` (`created_at`,`id`) WHERE outcome = 'failed';--> statement-breakpoint
CREATE INDEX `telemetry_task_failed_idx` ON `telemetry_events` (`task_id`,`created_at`,`id`) WHERE outcome = 'failed';--> statement-breakpoint
CREATE TABLE `transcript_segments` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`task_id` text NOT NULL,
	`session_id` text NOT NULL,
	`role` text NOT NULL,
	`mode` text NOT NULL,
	`content_hash` text NOT NULL,
	`content` text,
	`bytes` integer NOT NULL,
	`lines` integer NOT NULL,
	`first_event_id` integer,
	`last_event_id` integer,
	`created_by` text NOT NULL,
	`created_at` integer NOT NULL,
	`pruned_at` integer
);
--> statement-breakpoint
CREATE UNIQUE INDEX `transcript_segments_dedup_uq` ON `transcript_segments` (`session_id`,`mode`,`content_hash`);--> statement-breakpoint
CREATE INDEX `transcript_segments_task_idx` ON `transcript_segments` (`task_id`,`id`);--> statement-breakpoint
CREATE INDEX `transcript_segments_session_idx` ON `transcript_segments` (`session_id`,`mode`,`id`);--> statement-breakpoint
CREATE INDEX `transcript_segments_content_idx` ON `transcript_segments` (`session_id`,`id`) WHERE content IS NOT NULL;--> statement-breakpoint
CREATE INDEX `bindings_task_idx` ON `bindings` (`task_id`,`created_at`);--> statement-breakpoint
CREATE INDEX `advice_requests_requester_idx` ON `advice_requests` (`requester_session_id`,`created_at`);--> statement-breakpoint
CREATE INDEX `advice_requests_to_idx` ON `advice_requests` (`to_session_id`,`created_at`);