-- Filters the list routes offer, each served by an index in its own page order, so a page costs
-- the same however much history the table holds: a session's messages (sent and received), a
-- command type, every or only acknowledged notices, a worker's bindings, a run's failures, a
-- role over every state, a name's newest registration; plus the broker's lookup of an advice's
-- delivery and the hourly prune of cron slots by claim time.
DROP INDEX `messages_to_idx`;--> statement-breakpoint
CREATE INDEX `messages_from_idx` ON `messages` (`from_session_id`,`created_at`,`id`);--> statement-breakpoint
CREATE INDEX `messages_to_idx` ON `messages` (`to_session_id`,`created_at`,`id`);--> statement-breakpoint
CREATE INDEX `sessions_name_created_idx` ON `sessions` (`name`,`created_at`);--> statement-breakpoint
CREATE INDEX `sessions_role_created_idx` ON `sessions` (`role`,`created_at`,`id`);--> statement-breakpoint
CREATE INDEX `bindings_worker_created_idx` ON `bindings` (`worker_session_id`,`created_at`);--> statement-breakpoint
CREATE INDEX `cron_slots_claimed_idx` ON `cron_slots` (`claimed_at`);--> statement-breakpoint
CREATE INDEX `commands_type_created_idx` ON `commands` (`type`,`created_at`,`id`);--> statement-breakpoint
CREATE INDEX `inbox_items_message_idx` ON `inbox_items` (`message_id`);--> statement-breakpoint
CREATE INDEX `notifications_recipient_created_idx` ON `notifications` (`recipient`,`created_at`,`id`);--> statement-breakpoint
CREATE INDEX `notifications_acked_created_idx` ON `notifications` (`recipient`,`created_at`,`id`) WHERE acked_at IS NOT NULL;--> statement-breakpoint
CREATE INDEX `telemetry_run_failed_idx` ON `telemetry_events` (`run_id`,`created_at`,`id`) WHERE outcome = 'failed';