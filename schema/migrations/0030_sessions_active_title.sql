-- A send names its recipient by name, id or app thread title, in one statement whose arms each
-- read an index; the title arm had none and walked every active session.
CREATE INDEX `sessions_active_title_idx` ON `sessions` (`thread_title`) WHERE state = 'active';