DROP INDEX `sessions_role_state_idx`;--> statement-breakpoint
CREATE INDEX `sessions_name_idx` ON `sessions` (`name`,`state`,"created_at" desc);--> statement-breakpoint
CREATE INDEX `sessions_state_created_idx` ON `sessions` (`state`,`created_at`,`id`);--> statement-breakpoint
CREATE INDEX `sessions_created_idx` ON `sessions` (`created_at`,`id`);--> statement-breakpoint
CREATE INDEX `sessions_state_id_idx` ON `sessions` (`state`,`id`);--> statement-breakpoint
CREATE INDEX `sessions_role_state_idx` ON `sessions` (`role`,`state`,`created_at`,`id`);--> statement-breakpoint
DROP INDEX `advice_requests_state_idx`;--> statement-breakpoint
CREATE INDEX `advice_requests_created_idx` ON `advice_requests` (`created_at`,`id`);--> statement-breakpoint
CREATE INDEX `advice_requests_open_idx` ON `advice_requests` (`created_at`,`id`) WHERE state NOT IN ('sent', 'rejected');--> statement-breakpoint
CREATE INDEX `advice_requests_state_idx` ON `advice_requests` (`state`,`created_at`,`id`);--> statement-breakpoint
DROP INDEX `broker_runs_state_idx`;--> statement-breakpoint
CREATE INDEX `broker_runs_created_idx` ON `broker_runs` (`created_at`,`id`);--> statement-breakpoint
CREATE INDEX `broker_runs_state_idx` ON `broker_runs` (`state`,`created_at`,`id`);--> statement-breakpoint
DROP INDEX `orchestrator_jobs_state_idx`;--> statement-breakpoint
CREATE INDEX `orchestrator_jobs_created_idx` ON `orchestrator_jobs` (`created_at`,`id`);--> statement-breakpoint
CREATE INDEX `orchestrator_jobs_state_idx` ON `orchestrator_jobs` (`state`,`created_at`,`id`);--> statement-breakpoint
CREATE INDEX `tasks_state_created_idx` ON `tasks` (`state`,`created_at`,`id`);--> statement-breakpoint
CREATE INDEX `tasks_created_idx` ON `tasks` (`created_at`,`id`);--> statement-breakpoint
CREATE INDEX `bindings_active_created_idx` ON `bindings` (`created_at`,`id`) WHERE state = 'active';--> statement-breakpoint
CREATE INDEX `bindings_ended_created_idx` ON `bindings` (`created_at`,`id`) WHERE state = 'ended';--> statement-breakpoint
CREATE INDEX `bindings_created_idx` ON `bindings` (`created_at`,`id`);--> statement-breakpoint
CREATE INDEX `idempotency_keys_created_idx` ON `idempotency_keys` (`created_at`);--> statement-breakpoint
CREATE INDEX `tokens_created_idx` ON `tokens` (`created_at`,`id`);--> statement-breakpoint
CREATE INDEX `cron_runs_started_idx` ON `cron_runs` (`started_at`);--> statement-breakpoint
CREATE INDEX `transcript_events_session_id_idx` ON `transcript_events` (`session_id`,`id`);--> statement-breakpoint
CREATE INDEX `transcript_events_session_subtype_idx` ON `transcript_events` (`session_id`,`subtype`,`id`);--> statement-breakpoint
CREATE INDEX `commands_state_created_idx` ON `commands` (`state`,`created_at`,`id`);--> statement-breakpoint
CREATE INDEX `commands_created_idx` ON `commands` (`created_at`,`id`);--> statement-breakpoint
CREATE INDEX `messages_created_idx` ON `messages` (`created_at`,`id`);--> statement-breakpoint
CREATE INDEX `plugin_runs_started_idx` ON `plugin_runs` (`started_at`);