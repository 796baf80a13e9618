-- Why a binding ended, so a manager's reach after it can follow the reason (an unbind ends it;
-- a finish or the patrol's release of a dead worker leaves it its look at what the worker left)
-- instead of guessing from timestamps. Bindings that ended before this column: those that ended
-- at their task's finish are marked as the finish's; the rest stay unknown (null).
ALTER TABLE `bindings` ADD `end_reason` text;
--> statement-breakpoint
UPDATE `bindings` SET `end_reason` = 'finish'
WHERE `state` = 'ended' AND `ended_at` IS NOT NULL
  AND `ended_at` = (SELECT `finished_at` FROM `tasks` WHERE `tasks`.`id` = `bindings`.`task_id` AND `tasks`.`state` = 'finished');
