-- The broker's poll looks for request messages with no advice request yet. Read oldest first off
-- the request index, it probed every request ever sent (all long since advised) before reaching
-- the new ones, each minute per running broker run. A request is now marked when its advice
-- request is made, and a partial index holds only the unmarked ones: the poll reads what is open.
ALTER TABLE `messages` ADD `advised_at` integer;--> statement-breakpoint
UPDATE `messages` SET `advised_at` = (SELECT `created_at` FROM `advice_requests` WHERE `source_message_id` = `messages`.`id`)
  WHERE `msg_type` = 'request' AND EXISTS (SELECT 1 FROM `advice_requests` WHERE `source_message_id` = `messages`.`id`);--> statement-breakpoint
CREATE TRIGGER `advice_requests_mark_message` AFTER INSERT ON `advice_requests` BEGIN
  UPDATE `messages` SET `advised_at` = NEW.`created_at` WHERE `id` = NEW.`source_message_id` AND `advised_at` IS NULL;
END;--> statement-breakpoint
CREATE INDEX `messages_unadvised_idx` ON `messages` (`created_at`,`id`) WHERE msg_type = 'request' AND advised_at IS NULL;
