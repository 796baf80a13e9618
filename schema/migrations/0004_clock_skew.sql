ALTER TABLE `ingest_cursors` ADD `clock_skew_ms` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `ingest_cursors` ADD `seen_size` integer;--> statement-breakpoint
ALTER TABLE `ingest_cursors` ADD `seen_at` integer;--> statement-breakpoint
ALTER TABLE `transcript_events` ADD `observed_at` integer;