-- Audit events reach telemetry in batches (functions/telemetry/feed.ts): the trigger that wrote
-- each event's telemetry row, with its summary, six indexes and full-text entry, inside the
-- mutation's own commit gives way to one that queues the event's id. Every event committed
-- before this migration already has its telemetry row, so nothing is queued for them.
CREATE TABLE `telemetry_pending` (
	`seq` integer PRIMARY KEY NOT NULL,
	`event_id` text NOT NULL
);
--> statement-breakpoint
DROP TRIGGER IF EXISTS `telemetry_from_events`;
--> statement-breakpoint
CREATE TRIGGER `telemetry_pending_from_events` AFTER INSERT ON `events` BEGIN
  INSERT INTO `telemetry_pending` (`event_id`) VALUES (NEW.`id`);
END;
