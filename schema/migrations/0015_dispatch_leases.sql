CREATE TABLE `dispatch_leases` (
	`scope` text PRIMARY KEY NOT NULL,
	`holder` text NOT NULL,
	`expires_at` integer NOT NULL,
	`taken_at` integer NOT NULL
);
