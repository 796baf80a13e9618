-- Telemetry's failure and metrics views summed ingest_cursors, which holds a row for every
-- session ever ingested. The totals are now kept as cursors change, by triggers, in one row the
-- views look up; what is already in the database is counted once here.
CREATE TABLE `ingest_totals` (
	`id` integer PRIMARY KEY NOT NULL,
	`sessions` integer DEFAULT 0 NOT NULL,
	`lines` integer DEFAULT 0 NOT NULL,
	`skipped` integer DEFAULT 0 NOT NULL,
	`sessions_skipping` integer DEFAULT 0 NOT NULL
);
--> statement-breakpoint
INSERT INTO `ingest_totals` (`id`, `sessions`, `lines`, `skipped`, `sessions_skipping`)
  SELECT 1, count(*), coalesce(sum(`lines_total`), 0), coalesce(sum(`skipped_total`), 0), coalesce(sum(`skipped_total` > 0), 0) FROM `ingest_cursors`;--> statement-breakpoint
CREATE TRIGGER `ingest_cursors_totals_insert` AFTER INSERT ON `ingest_cursors` BEGIN
  UPDATE `ingest_totals` SET `sessions` = `sessions` + 1, `lines` = `lines` + NEW.`lines_total`, `skipped` = `skipped` + NEW.`skipped_total`,
    `sessions_skipping` = `sessions_skipping` + (NEW.`skipped_total` > 0) WHERE `id` = 1;
END;--> statement-breakpoint
CREATE TRIGGER `ingest_cursors_totals_update` AFTER UPDATE OF `lines_total`, `skipped_total` ON `ingest_cursors` BEGIN
  UPDATE `ingest_totals` SET `lines` = `lines` + NEW.`lines_total` - OLD.`lines_total`, `skipped` = `skipped` + NEW.`skipped_total` - OLD.`skipped_total`,
    `sessions_skipping` = `sessions_skipping` + (NEW.`skipped_total` > 0) - (OLD.`skipped_total` > 0) WHERE `id` = 1;
END;--> statement-breakpoint
CREATE TRIGGER `ingest_cursors_totals_delete` AFTER DELETE ON `ingest_cursors` BEGIN
  UPDATE `ingest_totals` SET `sessions` = `sessions` - 1, `lines` = `lines` - OLD.`lines_total`, `skipped` = `skipped` - OLD.`skipped_total`,
    `sessions_skipping` = `sessions_skipping` - (OLD.`skipped_total` > 0) WHERE `id` = 1;
END;
