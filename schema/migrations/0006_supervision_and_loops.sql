CREATE TABLE `acceptance_criteria` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`task_id` text NOT NULL,
	`criterion` text NOT NULL,
	`source` text NOT NULL,
	`status` text NOT NULL,
	`rationale` text,
	`evidence_json` text,
	`evidence_type` text,
	`created_by` text NOT NULL,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `acceptance_criteria_task_idx` ON `acceptance_criteria` (`task_id`,`id`);--> statement-breakpoint
CREATE INDEX `acceptance_criteria_task_status_idx` ON `acceptance_criteria` (`task_id`,`status`,`id`);--> statement-breakpoint
CREATE TABLE `continuation_reviews` (
	`id` text PRIMARY KEY NOT NULL,
	`task_id` text NOT NULL,
	`correlation_id` text NOT NULL,
	`verdict` text NOT NULL,
	`payload_json` text NOT NULL,
	`reviewer_session_id` text NOT NULL,
	`manager_session_id` text,
	`operator_attention` integer DEFAULT false NOT NULL,
	`error` text,
	`created_by` text NOT NULL,
	`created_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `continuation_reviews_task_idx` ON `continuation_reviews` (`task_id`,`created_at`,`id`);--> statement-breakpoint
CREATE TABLE `epilogue_runs` (
	`id` text PRIMARY KEY NOT NULL,
	`task_id` text NOT NULL,
	`step` text NOT NULL,
	`state` text NOT NULL,
	`result_json` text NOT NULL,
	`error` text,
	`correlation_id` text,
	`created_by` text NOT NULL,
	`created_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `epilogue_runs_task_idx` ON `epilogue_runs` (`task_id`,`step`,`created_at`,`id`);--> statement-breakpoint
CREATE TABLE `manager_configs` (
	`id` text PRIMARY KEY NOT NULL,
	`task_id` text NOT NULL,
	`revision` integer NOT NULL,
	`config_json` text NOT NULL,
	`created_by` text NOT NULL,
	`created_at` integer NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `manager_configs_task_rev_uq` ON `manager_configs` (`task_id`,`revision`);--> statement-breakpoint
CREATE TABLE `manager_decisions` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`task_id` text NOT NULL,
	`decision` text NOT NULL,
	`reason` text NOT NULL,
	`cycle_id` integer,
	`payload_json` text,
	`created_by` text NOT NULL,
	`created_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `manager_decisions_task_idx` ON `manager_decisions` (`task_id`,`id`);--> statement-breakpoint
CREATE TABLE `task_acknowledgements` (
	`id` text PRIMARY KEY NOT NULL,
	`task_id` text NOT NULL,
	`role` text NOT NULL,
	`revision` integer NOT NULL,
	`payload_json` text NOT NULL,
	`correlation_id` text,
	`session_id` text,
	`created_by` text NOT NULL,
	`created_at` integer NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `task_acknowledgements_rev_uq` ON `task_acknowledgements` (`task_id`,`role`,`revision`);--> statement-breakpoint
CREATE INDEX `task_acknowledgements_task_idx` ON `task_acknowledgements` (`task_id`,`created_at`,`id`);--> statement-breakpoint
CREATE TABLE `task_continuations` (
	`id` text PRIMARY KEY NOT NULL,
	`task_id` text NOT NULL,
	`correlation_id` text NOT NULL,
	`role` text NOT NULL,
	`payload_json` text NOT NULL,
	`session_id` text,
	`created_by` text NOT NULL,
	`created_at` integer NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `task_continuations_uq` ON `task_continuations` (`task_id`,`correlation_id`,`role`);--> statement-breakpoint
CREATE INDEX `task_continuations_task_idx` ON `task_continuations` (`task_id`,`created_at`,`id`);--> statement-breakpoint
CREATE TABLE `task_handoffs` (
	`id` text PRIMARY KEY NOT NULL,
	`task_id` text NOT NULL,
	`summary` text NOT NULL,
	`next_steps_json` text NOT NULL,
	`payload_json` text,
	`session_id` text,
	`created_by` text NOT NULL,
	`created_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `task_handoffs_task_idx` ON `task_handoffs` (`task_id`,`created_at`,`id`);--> statement-breakpoint
CREATE TABLE `loop_evidence` (
	`id` text PRIMARY KEY NOT NULL,
	`run_id` text NOT NULL,
	`task_id` text NOT NULL,
	`iteration` integer NOT NULL,
	`evidence_type` text NOT NULL,
	`status` text NOT NULL,
	`payload_json` text NOT NULL,
	`created_by` text NOT NULL,
	`created_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `loop_evidence_run_idx` ON `loop_evidence` (`run_id`,`iteration`,`evidence_type`,`status`);--> statement-breakpoint
CREATE TABLE `loop_runs` (
	`id` text PRIMARY KEY NOT NULL,
	`task_id` text NOT NULL,
	`template` text NOT NULL,
	`max_iterations` integer NOT NULL,
	`current_iteration` integer DEFAULT 1 NOT NULL,
	`required_before_continue_json` text NOT NULL,
	`artifact_requirements_json` text NOT NULL,
	`cleanup_policy` text NOT NULL,
	`recommended_tools_json` text NOT NULL,
	`state` text DEFAULT 'active' NOT NULL,
	`created_by` text NOT NULL,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `loop_runs_task_idx` ON `loop_runs` (`task_id`,`created_at`,`id`);