import { and, eq, inArray } from "drizzle-orm";
import { brokerEvents, brokerRuns, type BrokerRunRow, type RunState } from "../../../schema/broker.ts";
import type { Ctx } from "../../lib/ctx.ts";
import { withWriteTransaction } from "../../lib/db.ts";
import { brokerEventValues } from "../wire.ts";
import { conditionOf, type StopCondition, type StopReason } from "./schema.ts";

/** Event kinds the run side writes; run-events and the digest read them back. */
export const RUN_EVENT = {
  created: "run_created",
  started: "run_started",
  stopped: "run_stopped",
  conditionMet: "stop_condition_met",
  tick: "tick",
  leaseAcquired: "lease_acquired",
  leaseTakenOver: "lease_taken_over",
  leaseRefused: "lease_refused",
  leaseReleased: "lease_released",
  error: "tick_error",
} as const;

/**
 * Stops a run for `reason`, if it is still live: one conditional UPDATE, so a kill switch and a
 * tick that both stop the run record one stop. The condition event and the stop event commit
 * with it. Returns the stopped row, or null when the run was already stopped.
 */
export async function stopRun(
  ctx: Ctx,
  runId: string,
  reason: StopReason,
  detail: string,
  opts: { from?: RunState[]; payload?: Record<string, unknown>; leaseOwner?: string } = {},
): Promise<{ row: BrokerRunRow; eventId: number } | null> {
  const nowMs = ctx.now().getTime();
  const condition = conditionOf(reason);
  return withWriteTransaction(ctx.db, async (tx) => {
    const [before] = await tx.select({ leaseOwner: brokerRuns.leaseOwner }).from(brokerRuns).where(eq(brokerRuns.id, runId));
    const [row] = await tx
      .update(brokerRuns)
      // A stopped run cannot be processed, so its lease is released with it.
      .set({ state: "stopped", stopReason: reason, stoppedAt: nowMs, updatedAt: nowMs, leaseOwner: null, leaseExpiresAt: null })
      // A tick stops the run only while it still holds the lease (leaseOwner given); a holder
      // whose lease was taken over mid-tick must not stop the run on its stale counts.
      .where(
        and(
          eq(brokerRuns.id, runId),
          inArray(brokerRuns.state, opts.from ?? ["running"]),
          opts.leaseOwner === undefined ? undefined : eq(brokerRuns.leaseOwner, opts.leaseOwner),
        ),
      )
      .returning();
    if (!row) return null;
    const payload = { condition, reason, detail, by: ctx.auth.kind, lease_owner: before?.leaseOwner ?? null, ...opts.payload };
    await tx.insert(brokerEvents).values(brokerEventValues(ctx, { kind: RUN_EVENT.conditionMet, runId, payload: { ...payload, stopped: true } }));
    const [e] = await tx
      .insert(brokerEvents)
      .values(brokerEventValues(ctx, { kind: RUN_EVENT.stopped, runId, payload }))
      .returning({ id: brokerEvents.id });
    return { row, eventId: e!.id };
  });
}

/** Records a stop condition that occurred but is not in the contract, so the run goes on. */
export function conditionNotedValues(ctx: Ctx, runId: string, condition: StopCondition, detail: string, payload: Record<string, unknown> = {}) {
  return brokerEventValues(ctx, {
    kind: RUN_EVENT.conditionMet,
    runId,
    adviceId: (payload.advice_id as string | undefined) ?? null,
    payload: { condition, detail, stopped: false, ...payload },
  });
}
