CREATE TABLE `advice_requests` (
	`id` text PRIMARY KEY NOT NULL,
	`source_message_id` text NOT NULL,
	`thread_id` text NOT NULL,
	`requester_session_id` text,
	`to_session_id` text NOT NULL,
	`project` text,
	`run_id` text,
	`state` text NOT NULL,
	`request_text` text NOT NULL,
	`context_packet_json` text,
	`draft_text` text,
	`draft_meta_json` text,
	`policy_reason` text,
	`approved_text` text,
	`approved_by` text,
	`approved_at` integer,
	`rejected_reason` text,
	`rejected_at` integer,
	`sent_message_id` text,
	`sent_at` integer,
	`error` text,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `advice_requests_source_uq` ON `advice_requests` (`source_message_id`);--> statement-breakpoint
CREATE INDEX `advice_requests_state_idx` ON `advice_requests` (`state`,`created_at`);--> statement-breakpoint
CREATE INDEX `advice_requests_run_idx` ON `advice_requests` (`run_id`,`created_at`);--> statement-breakpoint
CREATE TABLE `approval_tokens` (
	`id` text PRIMARY KEY NOT NULL,
	`run_id` text NOT NULL,
	`secret_hash` text NOT NULL,
	`to_session` text NOT NULL,
	`thread_id` text NOT NULL,
	`max_uses` integer NOT NULL,
	`uses` integer DEFAULT 0 NOT NULL,
	`expires_at` integer NOT NULL,
	`revoked_at` integer,
	`revoke_reason` text,
	`created_at` integer NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `approval_tokens_secret_uq` ON `approval_tokens` (`secret_hash`);--> statement-breakpoint
CREATE INDEX `approval_tokens_run_idx` ON `approval_tokens` (`run_id`);--> statement-breakpoint
CREATE TABLE `broker_events` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`run_id` text,
	`job_id` text,
	`advice_id` text,
	`kind` text NOT NULL,
	`payload_json` text NOT NULL,
	`created_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `broker_events_run_idx` ON `broker_events` (`run_id`,`id`);--> statement-breakpoint
CREATE INDEX `broker_events_job_idx` ON `broker_events` (`job_id`,`id`);--> statement-breakpoint
CREATE INDEX `broker_events_advice_idx` ON `broker_events` (`advice_id`,`id`);--> statement-breakpoint
CREATE TABLE `broker_runs` (
	`id` text PRIMARY KEY NOT NULL,
	`mode` text NOT NULL,
	`state` text NOT NULL,
	`objective` text NOT NULL,
	`project` text,
	`target_session` text,
	`owner_session_id` text,
	`message_type` text,
	`expires_at` integer,
	`limits_json` text NOT NULL,
	`stop_conditions_json` text NOT NULL,
	`validation_json` text NOT NULL,
	`requests_total` integer DEFAULT 0 NOT NULL,
	`drafts_total` integer DEFAULT 0 NOT NULL,
	`sends_total` integer DEFAULT 0 NOT NULL,
	`errors_total` integer DEFAULT 0 NOT NULL,
	`consecutive_errors` integer DEFAULT 0 NOT NULL,
	`duplicate_drafts` integer DEFAULT 0 NOT NULL,
	`last_activity_at` integer,
	`lease_owner` text,
	`lease_expires_at` integer,
	`started_at` integer,
	`stopped_at` integer,
	`stop_reason` text,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `broker_runs_state_idx` ON `broker_runs` (`state`);--> statement-breakpoint
CREATE TABLE `orchestrator_jobs` (
	`id` text PRIMARY KEY NOT NULL,
	`advice_id` text NOT NULL,
	`state` text NOT NULL,
	`attempts` integer DEFAULT 0 NOT NULL,
	`max_attempts` integer DEFAULT 3 NOT NULL,
	`claimed_by` text,
	`claim_generation` integer DEFAULT 0 NOT NULL,
	`lease_expires_at` integer,
	`last_error` text,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL,
	`finished_at` integer
);
--> statement-breakpoint
CREATE UNIQUE INDEX `orchestrator_jobs_advice_uq` ON `orchestrator_jobs` (`advice_id`);--> statement-breakpoint
CREATE INDEX `orchestrator_jobs_state_idx` ON `orchestrator_jobs` (`state`,`created_at`);