import { and, eq, lt, or, isNull } from "drizzle-orm";
import { sessions } from "../schema/sessions.ts";
import type { Ctx } from "../functions/lib/ctx.ts";
import { iso } from "../functions/lib/sql.ts";

export interface HeartbeatSweepOptions {
  /** A session is stale when its last heartbeat is older than this. */
  staleAfterSeconds?: number;
}

/**
 * Reports active sessions whose last heartbeat (or registration, if they never sent one) is
 * older than the threshold. It only reports: deciding what to do is the caller's job.
 */
export async function heartbeatSweep(ctx: Ctx, opts: HeartbeatSweepOptions = {}) {
  const staleAfterSeconds = opts.staleAfterSeconds ?? 600;
  const cutoff = ctx.now().getTime() - staleAfterSeconds * 1000;
  const rows = await ctx.db
    .select()
    .from(sessions)
    .where(
      and(
        eq(sessions.state, "active"),
        or(lt(sessions.lastHeartbeatAt, cutoff), and(isNull(sessions.lastHeartbeatAt), lt(sessions.createdAt, cutoff))),
      ),
    );
  const nowMs = ctx.now().getTime();
  const stale = rows.map((s) => {
    const last = s.lastHeartbeatAt ?? s.createdAt;
    return { session_id: s.id, name: s.name, role: s.role, last_heartbeat_at: iso(last), age_seconds: Math.round((nowMs - last) / 1000) };
  });
  return { stale_after_seconds: staleAfterSeconds, checked_at: iso(nowMs), stale, stale_count: stale.length };
}
