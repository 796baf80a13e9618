-- Custom SQL migration file, put your code below! --
-- Discover: substring search over task and session text without scanning either table. FTS5's
-- trigram tokenizer indexes every three-character run, so a MATCH finds the same rows the old
-- `LIKE '%q%'` did (case-insensitively) straight from the index, newest first in rowid order.
-- drizzle-kit cannot declare FTS5 tables or triggers, so they live here (generated with
-- `drizzle-kit generate --custom`). Both are external-content tables: the text stays in its
-- table, the index is kept in step by the triggers and rebuilt once for existing rows. The tables
-- key on rowid, which Switchyard never renumbers; after a manual VACUUM, rebuild both indexes
-- (INSERT INTO tasks_fts (tasks_fts) VALUES ('rebuild'), likewise sessions_fts).
CREATE VIRTUAL TABLE `tasks_fts` USING fts5(`name`, `goal`, `summary`, content='tasks', content_rowid='rowid', tokenize='trigram');
--> statement-breakpoint
CREATE TRIGGER `tasks_fts_ai` AFTER INSERT ON `tasks` BEGIN
  INSERT INTO `tasks_fts` (rowid, `name`, `goal`, `summary`) VALUES (NEW.rowid, NEW.`name`, NEW.`goal`, NEW.`summary`);
END;
--> statement-breakpoint
CREATE TRIGGER `tasks_fts_ad` AFTER DELETE ON `tasks` BEGIN
  INSERT INTO `tasks_fts` (`tasks_fts`, rowid, `name`, `goal`, `summary`) VALUES ('delete', OLD.rowid, OLD.`name`, OLD.`goal`, OLD.`summary`);
END;
--> statement-breakpoint
CREATE TRIGGER `tasks_fts_au` AFTER UPDATE OF `name`, `goal`, `summary` ON `tasks` BEGIN
  INSERT INTO `tasks_fts` (`tasks_fts`, rowid, `name`, `goal`, `summary`) VALUES ('delete', OLD.rowid, OLD.`name`, OLD.`goal`, OLD.`summary`);
  INSERT INTO `tasks_fts` (rowid, `name`, `goal`, `summary`) VALUES (NEW.rowid, NEW.`name`, NEW.`goal`, NEW.`summary`);
END;
--> statement-breakpoint
INSERT INTO `tasks_fts` (`tasks_fts`) VALUES ('rebuild');
--> statement-breakpoint
CREATE VIRTUAL TABLE `sessions_fts` USING fts5(`name`, `cwd`, `tmux_session`, `thread_title`, content='sessions', content_rowid='rowid', tokenize='trigram');
--> statement-breakpoint
CREATE TRIGGER `sessions_fts_ai` AFTER INSERT ON `sessions` BEGIN
  INSERT INTO `sessions_fts` (rowid, `name`, `cwd`, `tmux_session`, `thread_title`) VALUES (NEW.rowid, NEW.`name`, NEW.`cwd`, NEW.`tmux_session`, NEW.`thread_title`);
END;
--> statement-breakpoint
CREATE TRIGGER `sessions_fts_ad` AFTER DELETE ON `sessions` BEGIN
  INSERT INTO `sessions_fts` (`sessions_fts`, rowid, `name`, `cwd`, `tmux_session`, `thread_title`) VALUES ('delete', OLD.rowid, OLD.`name`, OLD.`cwd`, OLD.`tmux_session`, OLD.`thread_title`);
END;
--> statement-breakpoint
CREATE TRIGGER `sessions_fts_au` AFTER UPDATE OF `name`, `cwd`, `tmux_session`, `thread_title` ON `sessions` BEGIN
  INSERT INTO `sessions_fts` (`sessions_fts`, rowid, `name`, `cwd`, `tmux_session`, `thread_title`) VALUES ('delete', OLD.rowid, OLD.`name`, OLD.`cwd`, OLD.`tmux_session`, OLD.`thread_title`);
  INSERT INTO `sessions_fts` (rowid, `name`, `cwd`, `tmux_session`, `thread_title`) VALUES (NEW.rowid, NEW.`name`, NEW.`cwd`, NEW.`tmux_session`, NEW.`thread_title`);
END;
--> statement-breakpoint
INSERT INTO `sessions_fts` (`sessions_fts`) VALUES ('rebuild');
