import { lt } from "drizzle-orm";
import { cronRuns, cronSlots } from "../schema/crons.ts";
import type { Ctx } from "../functions/lib/ctx.ts";

/** How long cron bookkeeping is kept: long enough to debug last week, short enough to stay small. */
export const CRON_HISTORY_DAYS = 7;

/**
 * Deletes cron slots and runs older than the retention. The fast crons (dispatch-pass every
 * 10 s, lease-expiry every 30 s) would otherwise add some 23,000 rows a day forever.
 */
export async function pruneCronHistory(ctx: Ctx, days = CRON_HISTORY_DAYS) {
  const cutoff = ctx.now().getTime() - days * 86_400_000;
  const [slots, runs] = await ctx.db.batch([
    ctx.db.delete(cronSlots).where(lt(cronSlots.claimedAt, cutoff)).returning({ key: cronSlots.slotKey }),
    ctx.db.delete(cronRuns).where(lt(cronRuns.startedAt, cutoff)).returning({ id: cronRuns.id }),
  ]);
  return { retention_days: days, cutoff: new Date(cutoff).toISOString(), slots_deleted: slots.length, runs_deleted: runs.length };
}
