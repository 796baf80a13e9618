-- `telemetry --outcome O` alone walked the whole table; `messages --type T` sorted each run of
-- equal created_at. Each gets an index its page reads in order.
DROP INDEX `messages_type_idx`;--> statement-breakpoint
CREATE INDEX `messages_type_idx` ON `messages` (`msg_type`,`created_at`,`id`);--> statement-breakpoint
CREATE INDEX `telemetry_ok_id_idx` ON `telemetry_events` (`id`) WHERE outcome = 'ok';--> statement-breakpoint
CREATE INDEX `telemetry_failed_id_idx` ON `telemetry_events` (`id`) WHERE outcome = 'failed';--> statement-breakpoint
CREATE INDEX `telemetry_info_id_idx` ON `telemetry_events` (`id`) WHERE outcome = 'info';