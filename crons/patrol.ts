import type { Ctx } from "../functions/lib/ctx.ts";
import { ApiError } from "../functions/lib/errors.ts";
import { runPatrol } from "../functions/patrol/run.ts";
import { watchPatrol } from "../functions/patrol/watch.ts";

/** One scheduled patrol run; a run already in progress elsewhere is reported, not an error. */
export async function patrolTick(ctx: Ctx): Promise<Record<string, unknown>> {
  try {
    const r = await runPatrol(ctx, { trigger: "cron" });
    return { run_id: r.run_id, state: r.run.state, failed: r.run.steps_failed, skipped: r.run.steps_skipped };
  } catch (e) {
    if (e instanceof ApiError && e.code === "CONFLICT") return { skipped: e.message };
    throw e;
  }
}

/** The second-order watcher's tick. */
export async function patrolWatchTick(ctx: Ctx): Promise<Record<string, unknown>> {
  return watchPatrol(ctx);
}
