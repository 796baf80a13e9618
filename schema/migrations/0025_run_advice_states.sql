-- A run's digest counted its requests by state by loading every request the run ever took on.
-- The counts are now kept as they change, by triggers on advice_requests, in a small table the
-- digest looks up by run (what is already in the database is counted once here), and two partial
-- indexes list the oldest requests still waiting for the owner.
CREATE TABLE `broker_run_advice_states` (
	`run_id` text NOT NULL,
	`state` text NOT NULL,
	`n` integer DEFAULT 0 NOT NULL,
	PRIMARY KEY(`run_id`, `state`)
);
--> statement-breakpoint
CREATE INDEX `advice_requests_run_drafted_idx` ON `advice_requests` (`run_id`,`created_at`,`id`) WHERE state = 'draft_ready';--> statement-breakpoint
CREATE INDEX `advice_requests_run_owner_input_idx` ON `advice_requests` (`run_id`,`created_at`,`id`) WHERE state = 'owner_input_required';--> statement-breakpoint
INSERT INTO `broker_run_advice_states` (`run_id`, `state`, `n`) SELECT `run_id`, `state`, count(*) FROM `advice_requests` WHERE `run_id` IS NOT NULL GROUP BY `run_id`, `state`;--> statement-breakpoint
CREATE TRIGGER `advice_requests_run_states_insert` AFTER INSERT ON `advice_requests` WHEN NEW.`run_id` IS NOT NULL BEGIN
  INSERT INTO `broker_run_advice_states` (`run_id`, `state`, `n`) VALUES (NEW.`run_id`, NEW.`state`, 1) ON CONFLICT (`run_id`, `state`) DO UPDATE SET `n` = `n` + 1;
END;--> statement-breakpoint
CREATE TRIGGER `advice_requests_run_states_update_old` AFTER UPDATE OF `run_id`, `state` ON `advice_requests` WHEN OLD.`run_id` IS NOT NULL AND (OLD.`run_id` IS NOT NEW.`run_id` OR OLD.`state` IS NOT NEW.`state`) BEGIN
  UPDATE `broker_run_advice_states` SET `n` = `n` - 1 WHERE `run_id` = OLD.`run_id` AND `state` = OLD.`state`;
END;--> statement-breakpoint
CREATE TRIGGER `advice_requests_run_states_update_new` AFTER UPDATE OF `run_id`, `state` ON `advice_requests` WHEN NEW.`run_id` IS NOT NULL AND (OLD.`run_id` IS NOT NEW.`run_id` OR OLD.`state` IS NOT NEW.`state`) BEGIN
  INSERT INTO `broker_run_advice_states` (`run_id`, `state`, `n`) VALUES (NEW.`run_id`, NEW.`state`, 1) ON CONFLICT (`run_id`, `state`) DO UPDATE SET `n` = `n` + 1;
END;--> statement-breakpoint
CREATE TRIGGER `advice_requests_run_states_delete` AFTER DELETE ON `advice_requests` WHEN OLD.`run_id` IS NOT NULL BEGIN
  UPDATE `broker_run_advice_states` SET `n` = `n` - 1 WHERE `run_id` = OLD.`run_id` AND `state` = OLD.`state`;
END;
