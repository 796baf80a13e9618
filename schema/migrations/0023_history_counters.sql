-- Status reads counted over all history: orchestrator status grouped every job that ever ran by
-- state, and a broker run's status, digest, send budget and each of its ticks counted the run's
-- whole event log or every request it took on. Those counts grew with every finished row. They
-- are now kept as they happen, by triggers on the rows counted, in three small tables a read
-- looks up by key; what is already in the database is counted once here. One more index lets a
-- digest find a run's newest errors and stop event without walking all of its ticks.
CREATE TABLE `broker_run_advice_counts` (
	`run_id` text NOT NULL,
	`thread_id` text NOT NULL,
	`requests` integer DEFAULT 0 NOT NULL,
	`drafts` integer DEFAULT 0 NOT NULL,
	`sent` integer DEFAULT 0 NOT NULL,
	`unapproved_sent` integer DEFAULT 0 NOT NULL,
	PRIMARY KEY(`run_id`, `thread_id`)
);
--> statement-breakpoint
CREATE INDEX `broker_run_advice_counts_sent_idx` ON `broker_run_advice_counts` (`run_id`,`sent`);--> statement-breakpoint
CREATE TABLE `broker_run_event_counts` (
	`run_id` text NOT NULL,
	`kind` text NOT NULL,
	`subject` text NOT NULL,
	`n` integer DEFAULT 0 NOT NULL,
	PRIMARY KEY(`run_id`, `kind`, `subject`)
);
--> statement-breakpoint
CREATE TABLE `orchestrator_job_counts` (
	`state` text PRIMARY KEY NOT NULL,
	`n` integer DEFAULT 0 NOT NULL
);
--> statement-breakpoint
CREATE INDEX `broker_events_run_kind_idx` ON `broker_events` (`run_id`,`kind`,`id`);--> statement-breakpoint
INSERT INTO `orchestrator_job_counts` (`state`, `n`) SELECT `state`, count(*) FROM `orchestrator_jobs` GROUP BY `state`;--> statement-breakpoint
INSERT INTO `broker_run_event_counts` (`run_id`, `kind`, `subject`, `n`) SELECT `run_id`, '', '', count(*) FROM `broker_events` WHERE `run_id` IS NOT NULL GROUP BY `run_id`;--> statement-breakpoint
INSERT INTO `broker_run_event_counts` (`run_id`, `kind`, `subject`, `n`)
  SELECT `run_id`, `kind`, coalesce(CASE `kind` WHEN 'stop_condition_met' THEN json_extract(`payload_json`, '$.condition') WHEN 'send_reserved' THEN json_extract(`payload_json`, '$.thread_id') END, ''), count(*) FROM `broker_events` WHERE `run_id` IS NOT NULL GROUP BY 1, 2, 3;--> statement-breakpoint
INSERT INTO `broker_run_advice_counts` (`run_id`, `thread_id`, `requests`, `drafts`, `sent`, `unapproved_sent`)
  SELECT `run_id`, '', count(*), count(`draft_text`), sum(`sent_at` IS NOT NULL), sum(`sent_at` IS NOT NULL AND `approved_at` IS NULL) FROM `advice_requests` WHERE `run_id` IS NOT NULL GROUP BY `run_id`;--> statement-breakpoint
INSERT INTO `broker_run_advice_counts` (`run_id`, `thread_id`, `requests`, `drafts`, `sent`, `unapproved_sent`)
  SELECT `run_id`, `thread_id`, count(*), count(`draft_text`), sum(`sent_at` IS NOT NULL), sum(`sent_at` IS NOT NULL AND `approved_at` IS NULL) FROM `advice_requests` WHERE `run_id` IS NOT NULL GROUP BY `run_id`, `thread_id`;--> statement-breakpoint
CREATE TRIGGER `orchestrator_jobs_count_insert` AFTER INSERT ON `orchestrator_jobs` BEGIN
  INSERT INTO `orchestrator_job_counts` (`state`, `n`) VALUES (NEW.`state`, 1) ON CONFLICT (`state`) DO UPDATE SET `n` = `n` + 1;
END;--> statement-breakpoint
CREATE TRIGGER `orchestrator_jobs_count_update` AFTER UPDATE OF `state` ON `orchestrator_jobs` WHEN OLD.`state` IS NOT NEW.`state` BEGIN
  UPDATE `orchestrator_job_counts` SET `n` = `n` - 1 WHERE `state` = OLD.`state`;
  INSERT INTO `orchestrator_job_counts` (`state`, `n`) VALUES (NEW.`state`, 1) ON CONFLICT (`state`) DO UPDATE SET `n` = `n` + 1;
END;--> statement-breakpoint
CREATE TRIGGER `orchestrator_jobs_count_delete` AFTER DELETE ON `orchestrator_jobs` BEGIN
  UPDATE `orchestrator_job_counts` SET `n` = `n` - 1 WHERE `state` = OLD.`state`;
END;--> statement-breakpoint
CREATE TRIGGER `broker_events_count_insert` AFTER INSERT ON `broker_events` WHEN NEW.`run_id` IS NOT NULL BEGIN
  INSERT INTO `broker_run_event_counts` (`run_id`, `kind`, `subject`, `n`) VALUES (NEW.`run_id`, '', '', 1), (NEW.`run_id`, NEW.`kind`, coalesce(CASE NEW.`kind` WHEN 'stop_condition_met' THEN json_extract(NEW.`payload_json`, '$.condition') WHEN 'send_reserved' THEN json_extract(NEW.`payload_json`, '$.thread_id') END, ''), 1)
    ON CONFLICT (`run_id`, `kind`, `subject`) DO UPDATE SET `n` = `n` + 1;
END;--> statement-breakpoint
CREATE TRIGGER `broker_events_count_update_old` AFTER UPDATE OF `run_id`, `kind`, `payload_json` ON `broker_events` WHEN OLD.`run_id` IS NOT NULL BEGIN
  UPDATE `broker_run_event_counts` SET `n` = `n` - 1 WHERE `run_id` = OLD.`run_id` AND `kind` = '' AND `subject` = '';
  UPDATE `broker_run_event_counts` SET `n` = `n` - 1 WHERE `run_id` = OLD.`run_id` AND `kind` = OLD.`kind` AND `subject` = coalesce(CASE OLD.`kind` WHEN 'stop_condition_met' THEN json_extract(OLD.`payload_json`, '$.condition') WHEN 'send_reserved' THEN json_extract(OLD.`payload_json`, '$.thread_id') END, '');
END;--> statement-breakpoint
CREATE TRIGGER `broker_events_count_update_new` AFTER UPDATE OF `run_id`, `kind`, `payload_json` ON `broker_events` WHEN NEW.`run_id` IS NOT NULL BEGIN
  INSERT INTO `broker_run_event_counts` (`run_id`, `kind`, `subject`, `n`) VALUES (NEW.`run_id`, '', '', 1), (NEW.`run_id`, NEW.`kind`, coalesce(CASE NEW.`kind` WHEN 'stop_condition_met' THEN json_extract(NEW.`payload_json`, '$.condition') WHEN 'send_reserved' THEN json_extract(NEW.`payload_json`, '$.thread_id') END, ''), 1)
    ON CONFLICT (`run_id`, `kind`, `subject`) DO UPDATE SET `n` = `n` + 1;
END;--> statement-breakpoint
CREATE TRIGGER `broker_events_count_delete` AFTER DELETE ON `broker_events` WHEN OLD.`run_id` IS NOT NULL BEGIN
  UPDATE `broker_run_event_counts` SET `n` = `n` - 1 WHERE `run_id` = OLD.`run_id` AND `kind` = '' AND `subject` = '';
  UPDATE `broker_run_event_counts` SET `n` = `n` - 1 WHERE `run_id` = OLD.`run_id` AND `kind` = OLD.`kind` AND `subject` = coalesce(CASE OLD.`kind` WHEN 'stop_condition_met' THEN json_extract(OLD.`payload_json`, '$.condition') WHEN 'send_reserved' THEN json_extract(OLD.`payload_json`, '$.thread_id') END, '');
END;--> statement-breakpoint
CREATE TRIGGER `advice_requests_count_insert` AFTER INSERT ON `advice_requests` WHEN NEW.`run_id` IS NOT NULL BEGIN
  INSERT INTO `broker_run_advice_counts` (`run_id`, `thread_id`, `requests`, `drafts`, `sent`, `unapproved_sent`)
    VALUES (NEW.`run_id`, '', 1, NEW.`draft_text` IS NOT NULL, NEW.`sent_at` IS NOT NULL, NEW.`sent_at` IS NOT NULL AND NEW.`approved_at` IS NULL), (NEW.`run_id`, NEW.`thread_id`, 1, NEW.`draft_text` IS NOT NULL, NEW.`sent_at` IS NOT NULL, NEW.`sent_at` IS NOT NULL AND NEW.`approved_at` IS NULL)
    ON CONFLICT (`run_id`, `thread_id`) DO UPDATE SET `requests` = `requests` + excluded.`requests`, `drafts` = `drafts` + excluded.`drafts`,
      `sent` = `sent` + excluded.`sent`, `unapproved_sent` = `unapproved_sent` + excluded.`unapproved_sent`;
END;--> statement-breakpoint
CREATE TRIGGER `advice_requests_count_update_old` AFTER UPDATE OF `run_id`, `thread_id`, `draft_text`, `sent_at`, `approved_at` ON `advice_requests` WHEN OLD.`run_id` IS NOT NULL BEGIN
  UPDATE `broker_run_advice_counts` SET `requests` = `requests` - 1, `drafts` = `drafts` - (OLD.`draft_text` IS NOT NULL),
      `sent` = `sent` - (OLD.`sent_at` IS NOT NULL), `unapproved_sent` = `unapproved_sent` - (OLD.`sent_at` IS NOT NULL AND OLD.`approved_at` IS NULL)
    WHERE `run_id` = OLD.`run_id` AND `thread_id` IN ('', OLD.`thread_id`);
END;--> statement-breakpoint
CREATE TRIGGER `advice_requests_count_update_new` AFTER UPDATE OF `run_id`, `thread_id`, `draft_text`, `sent_at`, `approved_at` ON `advice_requests` WHEN NEW.`run_id` IS NOT NULL BEGIN
  INSERT INTO `broker_run_advice_counts` (`run_id`, `thread_id`, `requests`, `drafts`, `sent`, `unapproved_sent`)
    VALUES (NEW.`run_id`, '', 1, NEW.`draft_text` IS NOT NULL, NEW.`sent_at` IS NOT NULL, NEW.`sent_at` IS NOT NULL AND NEW.`approved_at` IS NULL), (NEW.`run_id`, NEW.`thread_id`, 1, NEW.`draft_text` IS NOT NULL, NEW.`sent_at` IS NOT NULL, NEW.`sent_at` IS NOT NULL AND NEW.`approved_at` IS NULL)
    ON CONFLICT (`run_id`, `thread_id`) DO UPDATE SET `requests` = `requests` + excluded.`requests`, `drafts` = `drafts` + excluded.`drafts`,
      `sent` = `sent` + excluded.`sent`, `unapproved_sent` = `unapproved_sent` + excluded.`unapproved_sent`;
END;--> statement-breakpoint
CREATE TRIGGER `advice_requests_count_delete` AFTER DELETE ON `advice_requests` WHEN OLD.`run_id` IS NOT NULL BEGIN
  UPDATE `broker_run_advice_counts` SET `requests` = `requests` - 1, `drafts` = `drafts` - (OLD.`draft_text` IS NOT NULL),
      `sent` = `sent` - (OLD.`sent_at` IS NOT NULL), `unapproved_sent` = `unapproved_sent` - (OLD.`sent_at` IS NOT NULL AND OLD.`approved_at` IS NULL)
    WHERE `run_id` = OLD.`run_id` AND `thread_id` IN ('', OLD.`thread_id`);
END;
