import { eq, sql } from "drizzle-orm";
import { healthStates, type HealthKind, type HealthStateRow } from "../../schema/patrol.ts";
import type { Ctx } from "../lib/ctx.ts";
import type { PatrolConfigValues } from "./state.ts";

/** A watched component. */
export interface Component {
  component: string;
  kind: HealthKind;
  label: string;
}

/**
 * What to do after this cycle: nothing (healthy), note the silence (1..restart-1 cycles),
 * attempt a restart (restart..escalate-1), tell the owner (escalate, once per episode), or
 * nothing more because the owner was already told (`escalated`).
 */
export type HealthDecision = "healthy" | "recovered" | "note" | "restart" | "escalate" | "escalated";

/** The outcome of recording one observation. */
export interface HealthVerdict {
  decision: HealthDecision;
  cycles: number;
  row: HealthStateRow;
}

/**
 * Records one observation of a component and decides the action, in one upsert: the count of
 * consecutive unresponsive cycles goes up by one, or back to 0 on a healthy observation (the
 * escalation mark clears with it, so a later episode is escalated again).
 */
export async function recordObservation(
  ctx: Ctx,
  c: Component,
  obs: { unresponsive: boolean; signals: Record<string, unknown>; transcriptSize?: number | null; paneDigest?: string | null },
  config: Pick<PatrolConfigValues, "restart_after_cycles" | "escalate_after_cycles">,
): Promise<HealthVerdict> {
  const nowMs = ctx.now().getTime();
  const [before] = await ctx.db.select({ cycles: healthStates.unresponsiveCycles }).from(healthStates).where(eq(healthStates.component, c.component));
  const baselines = {
    ...(obs.transcriptSize === undefined ? {} : { transcriptSize: obs.transcriptSize }),
    ...(obs.paneDigest === undefined ? {} : { paneDigest: obs.paneDigest }),
  };
  const [row] = await ctx.db
    .insert(healthStates)
    .values({
      component: c.component,
      kind: c.kind,
      label: c.label,
      unresponsiveCycles: obs.unresponsive ? 1 : 0,
      lastSeenHealthyAt: obs.unresponsive ? null : nowMs,
      lastCheckedAt: nowMs,
      signals: obs.signals,
      ...baselines,
    })
    .onConflictDoUpdate({
      target: healthStates.component,
      set: obs.unresponsive
        ? { label: c.label, unresponsiveCycles: sql`${healthStates.unresponsiveCycles} + 1`, lastCheckedAt: nowMs, signals: obs.signals, ...baselines }
        : { label: c.label, unresponsiveCycles: 0, lastSeenHealthyAt: nowMs, lastCheckedAt: nowMs, signals: obs.signals, escalatedAt: null, ...baselines },
    })
    .returning();
  const cycles = row!.unresponsiveCycles;
  let decision: HealthDecision;
  if (!obs.unresponsive) decision = (before?.cycles ?? 0) > 0 ? "recovered" : "healthy";
  else if (cycles >= config.escalate_after_cycles) decision = row!.escalatedAt === null ? "escalate" : "escalated";
  else if (cycles >= config.restart_after_cycles) decision = "restart";
  else decision = "note";
  return { decision, cycles, row: row! };
}

/**
 * Resets a component after a second signal showed it alive (a restart vetoed): the primary
 * signal was wrong, so the silence does not accumulate towards a restart or an escalation.
 */
export async function vetoRestart(ctx: Ctx, component: string, reason: string): Promise<void> {
  const nowMs = ctx.now().getTime();
  await ctx.db
    .update(healthStates)
    .set({ unresponsiveCycles: 0, lastSeenHealthyAt: nowMs, lastAction: `restart_vetoed: ${reason}`, lastActionAt: nowMs, escalatedAt: null })
    .where(eq(healthStates.component, component));
}

/** Records the action taken for a component (restart requested, escalated…). */
export async function recordAction(ctx: Ctx, component: string, action: string, escalated = false): Promise<void> {
  const nowMs = ctx.now().getTime();
  await ctx.db
    .update(healthStates)
    .set({ lastAction: action, lastActionAt: nowMs, ...(escalated ? { escalatedAt: nowMs } : {}) })
    .where(eq(healthStates.component, component));
}

/** The dedup key of one escalation: one per component per unresponsive episode. */
export function escalationKey(row: HealthStateRow): string {
  return `health_escalation:${row.component}:${row.lastSeenHealthyAt ?? 0}`;
}
