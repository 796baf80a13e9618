-- A session's claim list pages on (created_at, id): with the id in the index it needs no sort.
-- Continuation reviews are read per turn (the newest few of each listed turn), so a turn's
-- reviews are found by index however many reviews the task's other turns have.
DROP INDEX `file_claims_session_idx`;--> statement-breakpoint
CREATE INDEX `file_claims_session_idx` ON `file_claims` (`session_id`,`created_at`,`id`);--> statement-breakpoint
CREATE INDEX `continuation_reviews_turn_idx` ON `continuation_reviews` (`task_id`,`correlation_id`,`created_at`,`id`);