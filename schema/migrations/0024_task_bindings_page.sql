-- A task's binding history pages newest first on (created_at, id) (task show, task bindings):
-- the task index gains id so the tie-break is read from it rather than sorted in a temp B-tree.
DROP INDEX `bindings_task_idx`;--> statement-breakpoint
CREATE INDEX `bindings_task_idx` ON `bindings` (`task_id`,`created_at`,`id`);