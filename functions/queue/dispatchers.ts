import { and, eq, sql } from "drizzle-orm";
import { dispatchers } from "../../schema/commands.ts";
import type { Ctx } from "../lib/ctx.ts";

/**
 * Records one pass of a dispatcher: creates its row on the first beat, then bumps the
 * iteration and processed count and stores the pass summary. One upsert per pass.
 */
export async function beatDispatcher(
  ctx: Ctx,
  input: { id: string; pid: number | null; dryRun: boolean; processed: number; report: Record<string, unknown> },
): Promise<{ iteration: number }> {
  const nowMs = ctx.now().getTime();
  const [row] = await ctx.db
    .insert(dispatchers)
    .values({
      id: input.id,
      host: ctx.hostName ?? null,
      pid: input.pid,
      state: "running",
      dryRun: input.dryRun,
      iteration: 1,
      processed: input.processed,
      lastReport: input.report,
      startedAt: nowMs,
      heartbeatAt: nowMs,
    })
    .onConflictDoUpdate({
      target: dispatchers.id,
      set: {
        host: ctx.hostName ?? null,
        pid: input.pid,
        state: "running",
        dryRun: input.dryRun,
        iteration: sql`${dispatchers.iteration} + 1`,
        processed: sql`${dispatchers.processed} + ${input.processed}`,
        lastReport: input.report,
        heartbeatAt: nowMs,
        stoppedAt: null,
      },
    })
    .returning({ iteration: dispatchers.iteration });
  return { iteration: row!.iteration };
}

/** Resets a dispatcher's counters when a new process takes over its id. */
export async function startDispatcher(ctx: Ctx, input: { id: string; pid: number | null; dryRun: boolean }): Promise<void> {
  const nowMs = ctx.now().getTime();
  const row = {
    host: ctx.hostName ?? null,
    pid: input.pid,
    state: "running" as const,
    dryRun: input.dryRun,
    iteration: 0,
    processed: 0,
    lastReport: null,
    startedAt: nowMs,
    heartbeatAt: nowMs,
    stoppedAt: null,
  };
  await ctx.db
    .insert(dispatchers)
    .values({ id: input.id, ...row })
    .onConflictDoUpdate({ target: dispatchers.id, set: row });
}

/** Marks a dispatcher stopped (clean shutdown); a row left `running` with an old heartbeat died. */
export async function stopDispatcher(ctx: Ctx, id: string, pid: number | null): Promise<void> {
  const nowMs = ctx.now().getTime();
  await ctx.db
    .update(dispatchers)
    .set({ state: "stopped", stoppedAt: nowMs, heartbeatAt: nowMs })
    .where(and(eq(dispatchers.id, id), pid === null ? undefined : eq(dispatchers.pid, pid)));
}
