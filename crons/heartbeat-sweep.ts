import { and, eq, inArray, isNull, lt, or } from "drizzle-orm";
import { events } from "../schema/events.ts";
import { sessions } from "../schema/sessions.ts";
import { pidLiveness } from "../functions/admin/reconcile.ts";
import { auditInsert } from "../functions/lib/audit.ts";
import type { Ctx } from "../functions/lib/ctx.ts";
import { iso, eqLiteral } from "../functions/lib/sql.ts";

/** Events kind that flags a session whose process the sweep found dead. */
export const PID_DEAD_EVENT = "session_pid_dead";

export interface HeartbeatSweepOptions {
  /** A session is stale when its last heartbeat is older than this. */
  staleAfterSeconds?: number;
}

/**
 * Reports active sessions whose last heartbeat (or registration, if they never sent one) is
 * older than the threshold, and sessions on this host whose pid is no longer running, with
 * the tasks they are bound to.
 *
 * A dead pid is flagged with one `session_pid_dead` events row per session, written the first
 * time the sweep sees it, and the session stays active: the sweep runs every minute as a
 * daemon, and retiring sessions and their bindings is reconcile --apply's job, which the owner
 * runs. The event makes the finding visible in audit and lets later sweeps say "already flagged".
 */
export async function heartbeatSweep(ctx: Ctx, opts: HeartbeatSweepOptions = {}) {
  const staleAfterSeconds = opts.staleAfterSeconds ?? 600;
  const nowMs = ctx.now().getTime();
  const cutoff = nowMs - staleAfterSeconds * 1000;
  const rows = await ctx.db
    .select()
    .from(sessions)
    .where(
      and(eqLiteral(sessions.state, "active"), or(lt(sessions.lastHeartbeatAt, cutoff), and(isNull(sessions.lastHeartbeatAt), lt(sessions.createdAt, cutoff)))),
    );
  const stale = rows.map((s) => {
    const last = s.lastHeartbeatAt ?? s.createdAt;
    return { session_id: s.id, name: s.name, role: s.role, last_heartbeat_at: iso(last), age_seconds: Math.round((nowMs - last) / 1000) };
  });

  const { dead, unchecked } = await pidLiveness(ctx);
  const flagged = dead.length
    ? await ctx.db
        .select({ id: events.id, sessionId: events.sessionId, createdAt: events.createdAt })
        .from(events)
        .where(
          and(
            eq(events.kind, PID_DEAD_EVENT),
            inArray(
              events.sessionId,
              dead.map((d) => d.session_id),
            ),
          ),
        )
    : [];
  const deadReport = [];
  for (const d of dead) {
    const earlier = flagged.find((f) => f.sessionId === d.session_id);
    let flag = earlier ? { event_id: earlier.id, flagged_at: iso(earlier.createdAt)!, newly_flagged: false } : null;
    if (!flag) {
      const audit = auditInsert(ctx, {
        kind: PID_DEAD_EVENT,
        sessionId: d.session_id,
        payload: { name: d.name, role: d.role, pid: d.pid, host: d.host, bound_tasks: d.bound_tasks },
      });
      await audit.stmt;
      flag = { event_id: audit.id, flagged_at: iso(audit.row.createdAt)!, newly_flagged: true };
    }
    deadReport.push({ ...d, ...flag });
  }
  const affected = deadReport.flatMap((d) => d.bound_tasks.map((t) => ({ ...t, session_id: d.session_id })));
  return {
    stale_after_seconds: staleAfterSeconds,
    checked_at: iso(nowMs),
    stale,
    stale_count: stale.length,
    dead: deadReport,
    dead_count: deadReport.length,
    affected_tasks: affected,
    unchecked_pid_count: unchecked.length,
  };
}
