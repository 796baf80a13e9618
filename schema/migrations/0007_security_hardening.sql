DROP INDEX `commands_idempotency_uq`;--> statement-breakpoint
ALTER TABLE `commands` ADD `idempotency_scope` text;--> statement-breakpoint
CREATE UNIQUE INDEX `commands_idempotency_uq` ON `commands` (`idempotency_scope`,`idempotency_key`);--> statement-breakpoint
ALTER TABLE `sessions` ADD `agent_session_id` text;--> statement-breakpoint
CREATE INDEX `sessions_active_transcript_idx` ON `sessions` (`transcript_path`) WHERE state = 'active';--> statement-breakpoint
ALTER TABLE `idempotency_keys` ADD `secrets_withheld` text;--> statement-breakpoint
CREATE INDEX `idempotency_keys_principal_created_idx` ON `idempotency_keys` (`principal`,`created_at`);--> statement-breakpoint
ALTER TABLE `ingest_cursors` ADD `skipping_line` integer DEFAULT false NOT NULL;