-- A task's commands page newest first on (created_at, id): an index with id, so the tie-break
-- is read from it, not sorted (commands_task_idx keeps serving the audit's (created_at, rowid)).
CREATE INDEX `commands_task_page_idx` ON `commands` (`task_id`,`created_at`,`id`);