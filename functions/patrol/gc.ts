import { and, asc, eq, gt, isNotNull, isNull, or } from "drizzle-orm";
import { events } from "../../schema/events.ts";
import { spawns } from "../../schema/patrol.ts";
import { sessions } from "../../schema/sessions.ts";
import { auditInsert } from "../lib/audit.ts";
import type { Ctx } from "../lib/ctx.ts";
import { withWriteTransaction } from "../lib/db.ts";
import { canReach } from "../lib/local.ts";
import type { StepInput } from "./dag.ts";
import { cursorOf, patrolRow, saveCursor } from "./state.ts";
import { eqLiteral } from "../lib/sql.ts";

/**
 * Marks one session gone if it is still active with the pid that was probed (a re-registered
 * session with a new pid is not the dead one).
 */
async function markGone(ctx: Ctx, s: typeof sessions.$inferSelect): Promise<boolean> {
  const nowMs = ctx.now().getTime();
  const audit = auditInsert(ctx, { kind: "session_gc_gone", sessionId: s.id, payload: { name: s.name, pid: s.pid, reason: "pid_dead" } });
  return withWriteTransaction(ctx.db, async (tx) => {
    const done = await tx
      .update(sessions)
      .set({ state: "gone", goneAt: nowMs, updatedAt: nowMs })
      .where(and(eq(sessions.id, s.id), eqLiteral(sessions.state, "active"), eq(sessions.pid, s.pid!)))
      .returning({ id: sessions.id });
    if (!done.length) return false;
    await tx.insert(events).values(audit.row);
    return true;
  });
}

/**
 * The session-gc step.
 * 1. Active sessions with a pid on this host are probed a window (gc_batch) at a time, resuming
 *    where the last run stopped: a dead pid (start time checked) with no heartbeat for
 *    session_stale_seconds becomes gone. A failed probe is not death.
 * 2. tmux sessions Switchyard started (the spawn ledger) whose session row is gone are killed,
 *    only when a tmux session of that exact recorded name still runs the recorded pane pid;
 *    a name now used by another process is left alone. Never by pattern.
 */
export async function sessionGc({ ctx, config }: StepInput) {
  const nowMs = ctx.now().getTime();
  const row = await patrolRow(ctx);
  const after = cursorOf(row, "session-gc") ?? "";
  const window = await ctx.db
    .select()
    .from(sessions)
    .where(and(gt(sessions.id, after), eqLiteral(sessions.state, "active"), isNotNull(sessions.pid)))
    .orderBy(asc(sessions.id))
    .limit(config.gc_batch);
  const gone: string[] = [];
  let probed = 0;
  let unchecked = 0;
  for (const s of window) {
    if (!canReach(ctx, s.host)) continue;
    probed++;
    const alive = await ctx.host!.pidAlive(s.pid!, s.pidStartedAt).catch(() => null);
    if (alive !== false) {
      if (alive === null) unchecked++;
      continue;
    }
    const beat = s.lastHeartbeatAt ?? s.createdAt;
    if (nowMs - beat < config.session_stale_seconds * 1000) continue;
    if (await markGone(ctx, s)) gone.push(s.name);
  }
  await saveCursor(ctx, "session-gc", window.length === config.gc_batch ? window[window.length - 1]!.id : null);

  const host = ctx.hostName ?? null;
  const ours = ctx.host
    ? await ctx.db
        .select({ spawn: spawns, state: sessions.state })
        .from(spawns)
        .leftJoin(sessions, eq(sessions.id, spawns.sessionId))
        // A session row that is gone, or no longer there at all.
        .where(
          and(
            isNull(spawns.reapedAt),
            host === null ? isNull(spawns.host) : or(eq(spawns.host, host), isNull(spawns.host)),
            or(eqLiteral(sessions.state, "gone"), isNull(sessions.id)),
          ),
        )
        .limit(500)
    : [];
  const killed: string[] = [];
  const left: Array<{ tmux: string; reason: string }> = [];
  for (const { spawn } of ours) {
    let reason: string;
    try {
      if (!(await ctx.host!.tmuxHasSession(spawn.tmuxSession))) reason = "tmux session already gone";
      else {
        const pid = await ctx.host!.tmuxPanePid(spawn.tmuxSession);
        if (spawn.panePid !== null && pid === spawn.panePid) {
          await ctx.host!.tmuxKillSession(spawn.tmuxSession);
          killed.push(spawn.tmuxSession);
          reason = `killed (pane pid ${pid})`;
        } else {
          reason = `not killed: the name now runs pid ${pid}, not the recorded ${spawn.panePid}`;
          left.push({ tmux: spawn.tmuxSession, reason });
        }
      }
    } catch (e) {
      left.push({ tmux: spawn.tmuxSession, reason: `probe failed: ${(e as Error).message}` });
      continue;
    }
    const audit = auditInsert(ctx, {
      kind: "session_gc_tmux",
      sessionId: spawn.sessionId,
      payload: { tmux_session: spawn.tmuxSession, pane_pid: spawn.panePid, outcome: reason },
    });
    await ctx.db.batch([
      ctx.db
        .update(spawns)
        .set({ reapedAt: nowMs, reapReason: reason })
        .where(and(eq(spawns.id, spawn.id), isNull(spawns.reapedAt))),
      audit.stmt,
    ]);
  }
  return {
    window: window.length,
    probed,
    unchecked,
    marked_gone: gone.length,
    gone,
    tmux_killed: killed.length,
    killed,
    left,
    next_cursor: window.length === config.gc_batch ? "more" : null,
  };
}
