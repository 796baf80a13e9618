import { asc, eq } from "drizzle-orm";
import { brokerRuns } from "../schema/broker.ts";
import { brokerTick } from "../functions/broker/tick/tick.ts";
import type { Ctx } from "../functions/lib/ctx.ts";
import { ApiError } from "../functions/lib/errors.ts";

/** The lease owner the cron ticks as; stable, so every scheduled slot renews the same lease. */
export const OVERNIGHT_HOLDER = "cron:broker-overnight";
/** Two schedule periods: a missed slot does not hand the run to someone else. */
const LEASE_SECONDS = 150;

/**
 * Ticks every started run once, under the run's lease like any daemon: a run whose lease a
 * daemon holds is skipped, not processed twice. Like every tick it never sends.
 */
export async function brokerOvernight(ctx: Ctx) {
  const running = await ctx.db.select({ id: brokerRuns.id }).from(brokerRuns).where(eq(brokerRuns.state, "running")).orderBy(asc(brokerRuns.createdAt));
  const runs = [];
  for (const { id } of running) {
    try {
      const r = await brokerTick(ctx, { run_id: id, holder: OVERNIGHT_HOLDER, lease_seconds: LEASE_SECONDS });
      runs.push({
        run_id: id,
        outcome: r.processed ? "ticked" : "already_stopped",
        ingested: r.ingested.length,
        drafted: r.drafted.filter((d) => d.state === "draft_ready").length,
        errors: r.errors.length,
        stopped: r.stopped?.reason ?? null,
      });
    } catch (e) {
      // One run's refusal (lease held elsewhere, run changed under us) must not starve the others.
      const held = e instanceof ApiError && e.code === "CONFLICT";
      runs.push({ run_id: id, outcome: held ? "skipped" : "failed", detail: e instanceof Error ? e.message : String(e) });
    }
  }
  return {
    holder: OVERNIGHT_HOLDER,
    runs,
    ticked: runs.filter((r) => r.outcome === "ticked").length,
    skipped: runs.filter((r) => r.outcome === "skipped").length,
  };
}
