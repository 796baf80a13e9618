-- The board reads each lane's worker's live claims; the session index also held every claim
-- the worker had released.
CREATE INDEX `file_claims_live_session_idx` ON `file_claims` (`session_id`,`created_at`,`id`) WHERE released_at IS NULL;