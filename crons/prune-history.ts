import { and, gte, lt, sql } from "drizzle-orm";
import { idempotencyKeys } from "../schema/auth.ts";
import { cronRuns, cronSlots } from "../schema/crons.ts";
import type { Ctx } from "../functions/lib/ctx.ts";

/**
 * How far before the last scrubbing prune the secret scrub looks again: machines sharing the
 * database whose clocks disagree by less than this lose nothing to it.
 */
const SCRUB_OVERLAP_MS = 6 * 3_600_000;

/** How long cron bookkeeping is kept: long enough to debug last week, short enough to stay small. */
export const CRON_HISTORY_DAYS = 7;

/**
 * Deletes cron slots, cron runs and idempotency keys older than the retention. The fast crons (dispatch-pass every
 * 10 s, lease-expiry every 30 s) would otherwise add some 23,000 rows a day forever.
 */
export async function pruneCronHistory(ctx: Ctx, days = CRON_HISTORY_DAYS) {
  const nowMs = ctx.now().getTime();
  const cutoff = nowMs - days * 86_400_000;
  const [slots, runs, keys, scrubbed] = await ctx.db.batch([
    ctx.db.delete(cronSlots).where(lt(cronSlots.claimedAt, cutoff)).returning({ key: cronSlots.slotKey }),
    ctx.db.delete(cronRuns).where(lt(cronRuns.startedAt, cutoff)).returning({ id: cronRuns.id }),
    // A retry comes within minutes; a week-old key only keeps a stored response alive.
    ctx.db.delete(idempotencyKeys).where(lt(idempotencyKeys.createdAt, cutoff)).returning({ key: idempotencyKeys.key }),
    // Responses are stored without secrets; this clears any copy written by an older version
    // (one still running beside a newer one on a shared database). Only keys stored since the
    // last prune that scrubbed (its report counts what it cleared; an older version's prune
    // recorded success without scrubbing), less SCRUB_OVERLAP_MS for clocks that disagree, are
    // read, off the created_at index: earlier ones were looked at then, and migration 0028
    // cleared every key stored before. A prune stamped after now (a clock running ahead) is
    // ignored, so it cannot switch the scrub off.
    ctx.db
      .update(idempotencyKeys)
      .set({ responseBody: null })
      .where(
        and(
          gte(
            idempotencyKeys.createdAt,
            sql`coalesce((SELECT ${cronRuns.startedAt} FROM ${cronRuns} WHERE ${cronRuns.name} = 'prune-history' AND ${cronRuns.state} = 'succeeded' AND ${cronRuns.startedAt} <= ${nowMs} AND json_extract(${cronRuns.report}, '$.secret_bodies_cleared') IS NOT NULL ORDER BY ${cronRuns.startedAt} DESC LIMIT 1) - ${SCRUB_OVERLAP_MS}, 0)`,
          ),
          // GLOB: case-sensitive, and `_` is itself (in LIKE it matches any character).
          sql`(${idempotencyKeys.responseBody} GLOB '*"token":"sy_*' OR ${idempotencyKeys.responseBody} GLOB '*"secret":"sy_*')`,
        ),
      )
      .returning({ key: idempotencyKeys.key }),
  ]);
  return {
    retention_days: days,
    cutoff: new Date(cutoff).toISOString(),
    slots_deleted: slots.length,
    runs_deleted: runs.length,
    idempotency_keys_deleted: keys.length,
    secret_bodies_cleared: scrubbed.length,
  };
}
