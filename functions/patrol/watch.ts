import type { Ctx } from "../lib/ctx.ts";
import { ApiError } from "../lib/errors.ts";
import { escalationKey, recordAction, recordObservation } from "./health-state.ts";
import { writeNotices } from "./notify.ts";
import { runPatrol } from "./run.ts";
import { patrolLiveness } from "./status.ts";

/** The health component of the patrol itself. */
export const PATROL_COMPONENT = { component: "patrol", kind: "patrol" as const, label: "patrol" };

/**
 * The second-order watcher: a separate cron that judges the patrol's heartbeat with the same
 * cycle counting as health-scan. A stale heartbeat is noted, then (confirmed by the lease: no
 * run holds the lease) the patrol is restarted by running it here, and at the escalation
 * threshold the owner is told once per episode.
 */
export async function watchPatrol(ctx: Ctx) {
  const live = await patrolLiveness(ctx);
  const signals = { heartbeat_at: live.heartbeat_at, heartbeat_age_seconds: live.heartbeat_age_seconds, lease_holder: live.row.leaseHolder };
  const verdict = await recordObservation(ctx, PATROL_COMPONENT, { unresponsive: !live.running, signals }, live.config);
  const report: Record<string, unknown> = { running: live.running, ...signals, decision: verdict.decision, unresponsive_cycles: verdict.cycles };
  if (verdict.decision === "restart") {
    const leaseLive = live.row.leaseHolder !== null && (live.row.leaseExpiresAt ?? 0) > ctx.now().getTime();
    if (leaseLive) {
      // A run holds the lease: it is inside a slow (or wedged) step. Never start a second run
      // beside it; the count keeps rising, so a run that stays wedged is escalated.
      const reason = `run ${live.row.leaseHolder} still holds the lease`;
      await recordAction(ctx, PATROL_COMPONENT.component, `restart deferred: ${reason}`);
      report.restart = { deferred: true, reason };
    } else {
      try {
        const run = await runPatrol(ctx, { trigger: "watch" });
        await recordAction(ctx, PATROL_COMPONENT.component, `restarted: ran ${run.run_id}`);
        report.restart = { deferred: false, run_id: run.run_id, state: run.run.state };
      } catch (e) {
        if (!(e instanceof ApiError && e.code === "CONFLICT")) throw e;
        report.restart = { deferred: true, reason: e.message };
      }
    }
  } else if (verdict.decision === "escalate") {
    await writeNotices(ctx, [
      {
        to: "owner",
        kind: "patrol_not_running",
        subject: "Health: the patrol is not running",
        body: `${live.problem ?? "the patrol's heartbeat is stale"}. Unresponsive for ${verdict.cycles} watcher cycles; restarts did not bring it back.`,
        payload: { ...signals, unresponsive_cycles: verdict.cycles },
        dedupKey: escalationKey(verdict.row),
      },
    ]);
    await recordAction(ctx, PATROL_COMPONENT.component, "escalated to the owner", true);
    report.escalated = true;
  }
  return report;
}
