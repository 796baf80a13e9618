-- Pages of named sessions (one read per name) and of a thread's messages are keyed on
-- (created_at, id): both indexes gain id, so the tie-break is read from them, not sorted.
DROP INDEX `sessions_name_created_idx`;--> statement-breakpoint
CREATE INDEX `sessions_name_created_idx` ON `sessions` (`name`,`created_at`,`id`);--> statement-breakpoint
DROP INDEX `messages_thread_idx`;--> statement-breakpoint
CREATE INDEX `messages_thread_idx` ON `messages` (`thread_id`,`created_at`,`id`);