import { and, asc, eq, lte } from "drizzle-orm";
import { gates } from "../../schema/gates.ts";
import type { Ctx } from "../lib/ctx.ts";
import { closeGateAtomically } from "./close.ts";

/** Timer gates closed per patrol run; the rest are due next run. */
const GATE_BATCH = 500;

/**
 * The gate-evaluation step: closes every open timer gate whose due time has passed (served by
 * gates_due_idx), each with its waiters' notifications in the same batch. Human and mail gates
 * wait for an outside hand and are not touched.
 */
export async function evaluateGates(ctx: Ctx) {
  const nowMs = ctx.now().getTime();
  const due = await ctx.db
    .select()
    .from(gates)
    .where(and(eq(gates.state, "open"), eq(gates.type, "timer"), lte(gates.dueAt, nowMs)))
    .orderBy(asc(gates.dueAt))
    .limit(GATE_BATCH);
  const closed: Array<{ gate_id: string; waiters: number }> = [];
  let lostRaces = 0;
  for (const g of due) {
    const r = await closeGateAtomically(ctx, g, "Timer elapsed");
    if (r.closed) closed.push({ gate_id: g.id, waiters: r.notified.length });
    else lostRaces++;
  }
  return { due: due.length, closed: closed.length, lost_races: lostRaces, gates: closed };
}
