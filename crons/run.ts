import { eq } from "drizzle-orm";
import { cronRuns, cronSlots } from "../schema/crons.ts";
import type { Ctx } from "../functions/lib/ctx.ts";
import { ApiError } from "../functions/lib/errors.ts";
import { iso } from "../functions/lib/sql.ts";
import { CRONS, CRON_NAMES } from "./index.ts";

/** Runs one tick of a named cron and records it in cron_runs, succeeded or failed. */
export async function runCron(ctx: Ctx, name: string, opts: { runner: string; slotKey?: string }) {
  const cron = CRONS[name];
  if (!cron) {
    throw new ApiError("NOT_FOUND", `cron '${name}' not found`, { hint: `Known crons: ${CRON_NAMES.join(", ")}` });
  }
  const id = ctx.newId("crn");
  const startedAt = ctx.now().getTime();
  await ctx.db.insert(cronRuns).values({ id, name, slotKey: opts.slotKey ?? null, runner: opts.runner, state: "running", startedAt });
  try {
    const report = await cron.tick(ctx);
    const finishedAt = ctx.now().getTime();
    await ctx.db.update(cronRuns).set({ state: "succeeded", report, finishedAt }).where(eq(cronRuns.id, id));
    return { run_id: id, name, state: "succeeded" as const, started_at: iso(startedAt)!, finished_at: iso(finishedAt)!, report, error: null };
  } catch (e) {
    const message = e instanceof Error ? e.message : String(e);
    const finishedAt = ctx.now().getTime();
    await ctx.db.update(cronRuns).set({ state: "failed", error: message, finishedAt }).where(eq(cronRuns.id, id));
    ctx.log.error("cron tick failed", { name, run_id: id, error: message });
    return { run_id: id, name, state: "failed" as const, started_at: iso(startedAt)!, finished_at: iso(finishedAt)!, report: null, error: message };
  }
}

/**
 * Claims a scheduled slot for this process. The primary key on slot_key means exactly one
 * process on the database wins each slot, however many are running the same schedule.
 */
export async function claimCronSlot(ctx: Ctx, slotKey: string, owner: string): Promise<boolean> {
  const won = await ctx.db
    .insert(cronSlots)
    .values({ slotKey, owner, claimedAt: ctx.now().getTime() })
    .onConflictDoNothing()
    .returning({ slotKey: cronSlots.slotKey });
  return won.length === 1;
}
