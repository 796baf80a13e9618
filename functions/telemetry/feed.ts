import type { ResultSet } from "@libsql/client";
import type { Ctx } from "../lib/ctx.ts";

/** Queued audit events turned into telemetry rows per transaction: a few ms of work, a short write lock. */
export const FEED_BATCH = 1000;

/**
 * The positions one transaction takes: the FEED_BATCH after the oldest queued one. Positions are
 * handed out in order without gaps (max + 1, and the queue only loses its oldest rows), so this
 * is the oldest FEED_BATCH rows, found by the rowid alone (no scan of the queue, however long).
 */
const IN_BATCH = `seq < (SELECT min(seq) FROM telemetry_pending) + ${FEED_BATCH}`;

/**
 * The telemetry row of each queued audit event, in the order the events were written. The
 * summary is the one the per-event trigger built before (the telemetry_fts migration): source,
 * kind, actor, task and session names, and the top-level scalar payload fields whose keys name
 * identifiers, states or reasons, each cut to 200 characters; never a body, prompt or pane. A
 * queued id whose event is gone (pruned) yields no row and is dropped with the rest.
 */
const FEED_AUDIT = `INSERT INTO telemetry_events (source, kind, task_id, session_id, run_id, actor, ref_id, outcome, summary, created_at)
SELECT
  'audit', e.kind, e.task_id, e.session_id,
  coalesce(json_extract(e.pj, '$.run_id'), json_extract(e.pj, '$.loop_run_id'), json_extract(e.pj, '$.patrol_run_id'), json_extract(e.pj, '$.dispatcher_id')),
  e.actor, e.id,
  CASE WHEN e.kind LIKE '%fail%' OR e.kind LIKE '%refused%' OR e.kind LIKE '%error%' OR e.kind LIKE '%dead%' OR e.kind LIKE '%escalation%' THEN 'failed' ELSE 'info' END,
  'audit ' || e.kind || ' ' || e.actor
    || coalesce(' task ' || (SELECT name FROM tasks WHERE id = e.task_id), '')
    || coalesce(' session ' || (SELECT name FROM sessions WHERE id = e.session_id), '')
    || coalesce(' ' || (
      SELECT group_concat(j.key || '=' || substr(CAST(j.value AS TEXT), 1, 200), ' ')
      FROM json_each(e.pj) AS j
      WHERE j.type IN ('integer', 'real', 'true', 'false')
        OR (j.type = 'text' AND (
          j.key = 'id' OR j.key LIKE '%\\_id' ESCAPE '\\' OR j.key = 'name' OR j.key LIKE '%\\_name' ESCAPE '\\'
          OR j.key IN ('kind', 'state', 'status', 'type', 'mode', 'role', 'decision', 'pattern', 'notable_pattern', 'signal_type',
            'delivery_mode', 'host', 'worker', 'manager', 'task', 'session', 'step', 'error', 'reason', 'code', 'previous_state',
            'outcome', 'template', 'trigger', 'gate', 'convoy', 'plugin', 'scope', 'category', 'action', 'permission',
            'required_permission', 'target', 'source', 'verdict', 'evidence_type', 'command_type', 'key')
        ))
    ), ''),
  e.created_at
FROM (
  -- A payload SQLite's JSON functions refuse (nested 1000 deep) is summarised without its
  -- fields: read as is, it would fail this whole batch, and every later one behind it.
  SELECT p.seq, ev.id, ev.kind, ev.task_id, ev.session_id, ev.actor, ev.created_at,
    CASE WHEN json_valid(ev.payload_json) THEN ev.payload_json ELSE '{}' END AS pj
  FROM telemetry_pending AS p JOIN events AS ev ON ev.id = p.event_id
  WHERE p.${IN_BATCH}
) AS e
ORDER BY e.seq`;

const DRAIN = `DELETE FROM telemetry_pending WHERE ${IN_BATCH}`;

/** The oldest queued position, or null when the queue is empty: read off the rowid's end. */
const OLDEST = "SELECT min(seq) AS oldest FROM telemetry_pending";

/** Whether OLDEST found anything queued. */
const anyQueued = (oldest: ResultSet) => oldest.rows[0]?.oldest !== null && oldest.rows[0]?.oldest !== undefined;

/** What one feed did: audit events turned into telemetry rows, and whether more were left queued. */
export interface FeedReport {
  fed: number;
  drained: number;
  more: boolean;
}

/**
 * Writes the telemetry rows of queued audit events, FEED_BATCH per transaction, and takes them
 * off the queue in the same commit, so each event gets exactly one row however many processes
 * feed at once (their write transactions take turns; a killed one commits nothing). Stops after
 * `maxBatches` transactions, leaving the rest for the next call.
 */
export async function feedTelemetry(ctx: Ctx, opts: { maxBatches?: number } = {}): Promise<FeedReport> {
  const max = opts.maxBatches ?? 20;
  let fed = 0;
  let drained = 0;
  for (let i = 0; i < max; i++) {
    // A batch on a local file runs synchronously: let timers and other requests have a turn
    // between batches, or a long catch-up would hold the whole process for its length.
    if (i > 0) await new Promise((resolve) => setTimeout(resolve, 0));
    const [inserted, deleted, left] = await ctx.database.client.batch([FEED_AUDIT, DRAIN, OLDEST], "write");
    fed += inserted!.rowsAffected;
    drained += deleted!.rowsAffected;
    if (!anyQueued(left!)) return { fed, drained, more: false };
  }
  return { fed, drained, more: true };
}

/**
 * Brings telemetry up to date before a read of it: one read when nothing is queued (the usual
 * case while a server feeds every few seconds), otherwise the feed. A read of telemetry so sees
 * every audit event committed before it, as it did when a trigger wrote them.
 */
export async function catchUpTelemetry(ctx: Ctx): Promise<void> {
  if (anyQueued(await ctx.database.client.execute(OLDEST))) await feedTelemetry(ctx, { maxBatches: Number.POSITIVE_INFINITY });
}
