import { inArray, lt } from "drizzle-orm";
import { patrolRuns, patrolSteps, pluginRuns } from "../../schema/patrol.ts";
import type { Ctx } from "../lib/ctx.ts";

/** How long patrol runs, their steps and plugin runs are kept. */
export const PATROL_HISTORY_DAYS = 7;

/**
 * Deletes patrol history older than the retention: a run a minute with ten steps is some 16,000
 * rows a day, kept only to debug the last week.
 */
export async function prunePatrolHistory(ctx: Ctx, days = PATROL_HISTORY_DAYS) {
  const cutoff = ctx.now().getTime() - days * 86_400_000;
  const old = ctx.db.select({ id: patrolRuns.id }).from(patrolRuns).where(lt(patrolRuns.startedAt, cutoff));
  const [steps, runs, plugins] = await ctx.db.batch([
    ctx.db.delete(patrolSteps).where(inArray(patrolSteps.runId, old)).returning({ id: patrolSteps.id }),
    ctx.db.delete(patrolRuns).where(lt(patrolRuns.startedAt, cutoff)).returning({ id: patrolRuns.id }),
    ctx.db.delete(pluginRuns).where(lt(pluginRuns.startedAt, cutoff)).returning({ id: pluginRuns.id }),
  ]);
  return {
    retention_days: days,
    cutoff: new Date(cutoff).toISOString(),
    runs_deleted: runs.length,
    steps_deleted: steps.length,
    plugin_runs_deleted: plugins.length,
  };
}
