import { and, count, desc, eq, gt, isNull, sql } from "drizzle-orm";
import { healthStates, notifications, patrolRuns } from "../../schema/patrol.ts";
import { sessions } from "../../schema/sessions.ts";
import type { Ctx } from "../lib/ctx.ts";
import { defineRoute, jsonResponse } from "../lib/route.ts";
import { iso } from "../lib/sql.ts";
import { PatrolStatus } from "./schema.ts";
import { configOf, patrolRow } from "./state.ts";
import { healthToWire, patrolRunToWire } from "./wire.ts";

export const patrolStatusRoute = defineRoute(["owner", "daemon"], {
  method: "get",
  path: "/patrol/status",
  tags: ["patrol"],
  summary: "Is the patrol running? Heartbeat age, last run, unhealthy components, pending owner notices",
  description: "`running` is false when the heartbeat is missing or older than heartbeat_stale_seconds; `problem` then says what to do. CLI: patrol status.",
  responses: { 200: jsonResponse(PatrolStatus, "Status") },
});

/** The patrol's heartbeat judged against its threshold: what doctor and `up` report. */
export async function patrolLiveness(ctx: Ctx) {
  const row = await patrolRow(ctx);
  const config = configOf(row);
  const nowMs = ctx.now().getTime();
  const age = row.beatAt === null ? null : Math.max(0, Math.round((nowMs - row.beatAt) / 1000));
  const running = age !== null && age <= config.heartbeat_stale_seconds;
  const problem = running
    ? null
    : age === null
      ? "the patrol has never run on this database"
      : `the patrol's last heartbeat is ${age}s old (limit ${config.heartbeat_stale_seconds}s): it is not running`;
  return {
    row,
    config,
    running,
    heartbeat_at: iso(row.beatAt),
    heartbeat_age_seconds: age,
    heartbeat_stale_seconds: config.heartbeat_stale_seconds,
    problem,
    hint: problem ? "Start it with `switchyard up` (the patrol cron) or `switchyard patrol run`." : null,
  };
}

/** The most unhealthy components a status lists (the worst first); unhealthy_total counts them all. */
const UNHEALTHY_SHOWN = 100;

/** Everything `patrol status` shows, in a handful of index-served reads. */
export async function patrolStatus(ctx: Ctx) {
  const live = await patrolLiveness(ctx);
  const [last] = await ctx.db.select().from(patrolRuns).orderBy(desc(patrolRuns.startedAt), desc(patrolRuns.id)).limit(1);
  const unhealthy = await ctx.db
    .select({ row: healthStates, total: sql<number>`(SELECT count(*) FROM ${healthStates} WHERE "unresponsive_cycles" > 0)` })
    .from(healthStates)
    .where(gt(healthStates.unresponsiveCycles, 0))
    .orderBy(desc(healthStates.unresponsiveCycles))
    .limit(UNHEALTHY_SHOWN);
  const [pending] = await ctx.db
    .select({ n: count() })
    .from(notifications)
    .where(and(eq(notifications.recipient, "owner"), isNull(notifications.ackedAt)));
  const [session] = live.row.sessionId ? await ctx.db.select({ name: sessions.name }).from(sessions).where(eq(sessions.id, live.row.sessionId)) : [];
  return {
    running: live.running,
    heartbeat_at: live.heartbeat_at,
    heartbeat_age_seconds: live.heartbeat_age_seconds,
    heartbeat_stale_seconds: live.heartbeat_stale_seconds,
    current_run_id: live.row.leaseHolder,
    current_step: live.row.leaseHolder ? live.row.beatStep : null,
    last_run: last ? patrolRunToWire(last) : null,
    session: session?.name ?? null,
    unhealthy: unhealthy.map((u) => healthToWire(u.row)),
    // The list is capped; the total rides along with it (a scalar subquery, no extra round trip).
    unhealthy_total: unhealthy[0]?.total ?? 0,
    owner_notices_pending: pending?.n ?? 0,
    problem: live.problem && `${live.problem}. ${live.hint}`,
  };
}
