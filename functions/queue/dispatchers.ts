import { and, eq, sql } from "drizzle-orm";
import { dispatchers } from "../../schema/commands.ts";
import type { Ctx } from "../lib/ctx.ts";
import type { Claim } from "./claim.ts";

/** How often a looping dispatcher writes its heartbeat row (liveness checks allow 30 s and more). */
export const HEARTBEAT_EVERY_MS = 5_000;

/**
 * Keeps a looping dispatcher from writing its heartbeat row on every pass: a beat is written
 * when `everyMs` has passed since the last one, carrying the passes and processed commands of the
 * passes in between; `stopDispatcher` writes what is still pending. A dispatcher that drains a
 * backlog runs many passes a second, and a write per pass would cost each of them a write lock.
 */
/** How often a looping dispatcher sweeps expired leases at most (HeartbeatThrottle.sweepDue). */
export const SWEEP_EVERY_MS = 1000;

export class HeartbeatThrottle {
  #lastBeatMs: number | null = null;
  /** Passes and commands not yet written to the row. */
  pending = { passes: 0, processed: 0 };
  /** The iteration this process has reached (written or not). */
  iteration = 0;
  #lastSweepMs: number | null = null;
  /** Claims taken at the end of the last pass for the next one (DispatchOptions.prefetch). */
  next: Claim[] = [];
  constructor(
    readonly everyMs = HEARTBEAT_EVERY_MS,
    /** How often a looping dispatcher's passes sweep expired leases (see sweepDue). */
    readonly sweepEveryMs = SWEEP_EVERY_MS,
  ) {}

  /**
   * True when this pass should sweep expired leases (and then counts it as swept). A backlog is
   * drained by passes that follow each other at once; sweeping in each of them would put the
   * sweep's statements (prepared and run inside the claim's write transaction, while every
   * other dispatcher waits for the lock) in front of every batch, though leases run out only
   * every so often. A killed dispatcher's claims still come back within one lease plus this interval.
   */
  sweepDue(nowMs: number): boolean {
    if (this.#lastSweepMs !== null && nowMs - this.#lastSweepMs < this.sweepEveryMs && nowMs >= this.#lastSweepMs) return false;
    this.#lastSweepMs = nowMs;
    return true;
  }

  /** True when this pass should write the heartbeat. */
  due(nowMs: number): boolean {
    return this.#lastBeatMs === null || nowMs - this.#lastBeatMs >= this.everyMs || nowMs < this.#lastBeatMs;
  }

  /** A pass that did not write: counted for the next beat. */
  defer(processed: number): number {
    this.pending.passes++;
    this.pending.processed += processed;
    return ++this.iteration;
  }

  /** A pass that wrote the row (with everything pending). */
  beaten(nowMs: number, iteration: number): void {
    this.#lastBeatMs = nowMs;
    this.pending = { passes: 0, processed: 0 };
    this.iteration = iteration;
  }
}

/**
 * Records passes of a dispatcher: creates its row on the first beat, then bumps the iteration
 * (by `passes`, default one) and processed count and stores the pass summary. One upsert.
 */
export async function beatDispatcher(
  ctx: Ctx,
  input: { id: string; pid: number | null; dryRun: boolean; processed: number; report: Record<string, unknown>; passes?: number },
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
      iteration: input.passes ?? 1,
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
        iteration: sql`${dispatchers.iteration} + ${input.passes ?? 1}`,
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

/**
 * Marks a dispatcher stopped (clean shutdown); a row left `running` with an old heartbeat died.
 * `pending` is what a heartbeat throttle has not written yet; it is added to the counters.
 */
export async function stopDispatcher(ctx: Ctx, id: string, pid: number | null, pending = { passes: 0, processed: 0 }): Promise<void> {
  const nowMs = ctx.now().getTime();
  await ctx.db
    .update(dispatchers)
    .set({
      state: "stopped",
      stoppedAt: nowMs,
      heartbeatAt: nowMs,
      iteration: sql`${dispatchers.iteration} + ${pending.passes}`,
      processed: sql`${dispatchers.processed} + ${pending.processed}`,
    })
    .where(and(eq(dispatchers.id, id), pid === null ? undefined : eq(dispatchers.pid, pid)));
}
