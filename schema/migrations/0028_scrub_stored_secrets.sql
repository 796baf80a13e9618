-- Versions before the hourly scrub stored some responses with the token they minted. The scrub
-- in prune-history now reads only keys stored since its last run, so every key already in the
-- database is looked at once here.
UPDATE `idempotency_keys` SET `response_body` = NULL WHERE `response_body` GLOB '*"token":"sy_*' OR `response_body` GLOB '*"secret":"sy_*';
