-- Why a binding ended, so a manager's reach after it can follow the reason (an unbind ends it;
-- a finish or the release of a dead worker leaves it its look at what the worker left) instead
-- of guessing from timestamps. Bindings that ended before this column get their reason from the
-- audit event that ended them (each names its binding_id; audit events are never deleted). A
-- finish is applied last: a finish that lost a race to an unbind still names that binding.
ALTER TABLE `bindings` ADD `end_reason` text;
--> statement-breakpoint
UPDATE `bindings` SET `end_reason` = CASE
  WHEN EXISTS (SELECT 1 FROM `events` e WHERE e.`task_id` = `bindings`.`task_id` AND e.`kind` = 'task_unbound' AND json_extract(e.`payload_json`, '$.binding_id') = `bindings`.`id`) THEN 'unbind'
  WHEN EXISTS (SELECT 1 FROM `events` e WHERE e.`task_id` = `bindings`.`task_id` AND e.`kind` = 'task_stopped' AND json_extract(e.`payload_json`, '$.binding_id') = `bindings`.`id`) THEN 'stop'
  WHEN EXISTS (SELECT 1 FROM `events` e WHERE e.`task_id` = `bindings`.`task_id` AND e.`kind` = 'orphan_released' AND json_extract(e.`payload_json`, '$.binding_id') = `bindings`.`id`) THEN 'orphan'
  WHEN EXISTS (SELECT 1 FROM `events` e WHERE e.`task_id` = `bindings`.`task_id` AND e.`kind` = 'binding_reconciled_ended' AND json_extract(e.`payload_json`, '$.binding_id') = `bindings`.`id`) THEN 'reconcile'
  WHEN EXISTS (SELECT 1 FROM `events` e WHERE e.`task_id` = `bindings`.`task_id` AND e.`kind` = 'task_finished' AND json_extract(e.`payload_json`, '$.binding_id') = `bindings`.`id`) THEN 'finish'
END
WHERE `state` = 'ended';
