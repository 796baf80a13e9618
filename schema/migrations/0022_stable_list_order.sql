-- List pages keyed on what never changes: plans newest first by creation (not by their last
-- change, which moved a plan changed mid-walk past the cursor: lost, or listed twice), and live
-- claims by base and id (not by expiry, which a renewal moves).
CREATE INDEX `file_claims_live_list_idx` ON `file_claims` (`base`,`id`) WHERE released_at IS NULL;--> statement-breakpoint
CREATE INDEX `plans_status_created_idx` ON `plans` (`status`,`created_at`,`id`);--> statement-breakpoint
CREATE INDEX `plans_created_idx` ON `plans` (`created_at`,`id`);