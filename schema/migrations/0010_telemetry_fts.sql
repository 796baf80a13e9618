-- Custom SQL migration file, put your code below! --
-- Telemetry: full-text search over telemetry_events.summary, and the triggers that feed
-- telemetry_events from the tables where things happen. drizzle-kit cannot declare FTS5 tables
-- or triggers, so they live here (generated with `drizzle-kit generate --custom`).
--
-- What a summary may hold: the source, kind, actor, task and session names, states, counts and
-- the top-level scalar payload fields whose keys name identifiers, states or reasons. Never a
-- transcript, pane, prompt, message or payload body: those keys are not on the list below, nested
-- objects are skipped whole, and every value is cut to 200 characters.
CREATE VIRTUAL TABLE `telemetry_fts` USING fts5(`summary`, content='telemetry_events', content_rowid='id');
--> statement-breakpoint
CREATE TRIGGER `telemetry_fts_ai` AFTER INSERT ON `telemetry_events` BEGIN
  INSERT INTO `telemetry_fts` (rowid, `summary`) VALUES (NEW.`id`, NEW.`summary`);
END;
--> statement-breakpoint
CREATE TRIGGER `telemetry_fts_ad` AFTER DELETE ON `telemetry_events` BEGIN
  INSERT INTO `telemetry_fts` (`telemetry_fts`, rowid, `summary`) VALUES ('delete', OLD.`id`, OLD.`summary`);
END;
--> statement-breakpoint
CREATE TRIGGER `telemetry_from_events` AFTER INSERT ON `events` BEGIN
  INSERT INTO `telemetry_events` (`source`, `kind`, `task_id`, `session_id`, `run_id`, `actor`, `ref_id`, `outcome`, `summary`, `created_at`)
  VALUES (
    'audit', NEW.`kind`, NEW.`task_id`, NEW.`session_id`,
    coalesce(json_extract(NEW.`payload_json`, '$.run_id'), json_extract(NEW.`payload_json`, '$.loop_run_id'), json_extract(NEW.`payload_json`, '$.patrol_run_id'), json_extract(NEW.`payload_json`, '$.dispatcher_id')),
    NEW.`actor`, NEW.`id`,
    CASE WHEN NEW.`kind` LIKE '%fail%' OR NEW.`kind` LIKE '%refused%' OR NEW.`kind` LIKE '%error%' OR NEW.`kind` LIKE '%dead%' OR NEW.`kind` LIKE '%escalation%' THEN 'failed' ELSE 'info' END,
    'audit ' || NEW.`kind` || ' ' || NEW.`actor`
      || coalesce(' task ' || (SELECT `name` FROM `tasks` WHERE `id` = NEW.`task_id`), '')
      || coalesce(' session ' || (SELECT `name` FROM `sessions` WHERE `id` = NEW.`session_id`), '')
      || coalesce(' ' || (
        SELECT group_concat(j.`key` || '=' || substr(CAST(j.`value` AS TEXT), 1, 200), ' ')
        FROM json_each(NEW.`payload_json`) AS j
        WHERE j.`type` IN ('integer', 'real', 'true', 'false')
          OR (j.`type` = 'text' AND (
            j.`key` = 'id' OR j.`key` LIKE '%\_id' ESCAPE '\' OR j.`key` = 'name' OR j.`key` LIKE '%\_name' ESCAPE '\'
            OR j.`key` IN ('kind', 'state', 'status', 'type', 'mode', 'role', 'decision', 'pattern', 'notable_pattern', 'signal_type',
              'delivery_mode', 'host', 'worker', 'manager', 'task', 'session', 'step', 'error', 'reason', 'code', 'previous_state',
              'outcome', 'template', 'trigger', 'gate', 'convoy', 'plugin', 'scope', 'category', 'action', 'permission',
              'required_permission', 'target', 'source', 'verdict', 'evidence_type', 'command_type', 'key')
          ))
      ), ''),
    NEW.`created_at`
  );
END;
--> statement-breakpoint
CREATE TRIGGER `telemetry_from_cycles` AFTER INSERT ON `manager_cycles` BEGIN
  INSERT INTO `telemetry_events` (`source`, `kind`, `task_id`, `session_id`, `run_id`, `actor`, `ref_id`, `outcome`, `summary`, `created_at`)
  VALUES (
    'cycle', 'cycle_' || NEW.`state`, NEW.`task_id`, NEW.`worker_session_id`, NULL, NULL, CAST(NEW.`id` AS TEXT),
    CASE NEW.`state` WHEN 'failed' THEN 'failed' ELSE 'ok' END,
    'cycle ' || NEW.`state` || ' cycle_id=' || NEW.`id`
      || coalesce(' task ' || (SELECT `name` FROM `tasks` WHERE `id` = NEW.`task_id`), '')
      || coalesce(' worker_state=' || NEW.`worker_state`, '')
      || coalesce(' pattern=' || NEW.`notable_pattern`, '')
      || coalesce(' new_events=' || json_extract(NEW.`status_json`, '$.ingest.new_events'), '')
      || coalesce(' skipped_lines=' || json_extract(NEW.`status_json`, '$.ingest.skipped_lines'), '')
      || CASE WHEN json_extract(NEW.`status_json`, '$.pane_signal.captured') = 0 AND json_extract(NEW.`status_json`, '$.pane_signal.reason') <> 'session has no tmux pane' THEN ' pane_capture_failed' ELSE '' END
      || coalesce(' error=' || substr(NEW.`error`, 1, 200), ''),
    NEW.`created_at`
  );
END;
--> statement-breakpoint
CREATE TRIGGER `telemetry_from_commands` AFTER UPDATE OF `state` ON `commands`
WHEN NEW.`state` <> OLD.`state` AND NEW.`state` IN ('succeeded', 'failed', 'dead', 'ambiguous') BEGIN
  INSERT INTO `telemetry_events` (`source`, `kind`, `task_id`, `session_id`, `run_id`, `actor`, `ref_id`, `outcome`, `summary`, `created_at`)
  VALUES (
    'command', 'command_' || NEW.`state`, NEW.`task_id`, NEW.`session_id`, NEW.`claimed_by`, NEW.`created_by`, NEW.`id`,
    CASE WHEN NEW.`state` = 'succeeded' THEN 'ok' ELSE 'failed' END,
    'command ' || NEW.`type` || ' ' || NEW.`state` || ' command_id=' || NEW.`id` || ' attempts=' || NEW.`attempts`
      || coalesce(' task ' || (SELECT `name` FROM `tasks` WHERE `id` = NEW.`task_id`), '')
      || coalesce(' session ' || (SELECT `name` FROM `sessions` WHERE `id` = NEW.`session_id`), '')
      || coalesce(' dispatcher=' || NEW.`claimed_by`, '')
      || coalesce(' correlation_id=' || NEW.`correlation_id`, '')
      || coalesce(' error=' || substr(NEW.`error`, 1, 200), ''),
    NEW.`updated_at`
  );
END;
--> statement-breakpoint
CREATE TRIGGER `telemetry_from_attempts` AFTER UPDATE OF `finished_at` ON `command_attempts`
WHEN OLD.`finished_at` IS NULL AND NEW.`finished_at` IS NOT NULL BEGIN
  INSERT INTO `telemetry_events` (`source`, `kind`, `task_id`, `session_id`, `run_id`, `actor`, `ref_id`, `outcome`, `summary`, `created_at`)
  SELECT
    'attempt', 'attempt_finished', c.`task_id`, c.`session_id`, NEW.`dispatcher_id`, NULL, NEW.`id`,
    CASE WHEN NEW.`error` IS NULL THEN 'ok' ELSE 'failed' END,
    'attempt ' || c.`type` || CASE WHEN NEW.`error` IS NULL THEN ' ok' ELSE ' failed' END || ' command_id=' || NEW.`command_id`
      || ' dispatcher=' || NEW.`dispatcher_id` || ' side_effect_started=' || NEW.`side_effect_started` || ' side_effect_completed=' || NEW.`side_effect_completed`
      || coalesce(' task ' || (SELECT `name` FROM `tasks` WHERE `id` = c.`task_id`), '')
      || coalesce(' error=' || substr(NEW.`error`, 1, 200), ''),
    NEW.`finished_at`
  FROM `commands` AS c WHERE c.`id` = NEW.`command_id`;
END;
