import { eq, inArray } from "drizzle-orm";
import { gateWaiters, type GateRow } from "../../schema/gates.ts";
import { sessions } from "../../schema/sessions.ts";
import type { Ctx } from "../lib/ctx.ts";
import { iso } from "../lib/sql.ts";

/** Waiter session names per gate, in two queries for any number of gates. */
export async function waiterNames(ctx: Ctx, gateIds: string[]): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>(gateIds.map((id) => [id, []]));
  if (!gateIds.length) return out;
  const rows = await ctx.db
    .select({ gateId: gateWaiters.gateId, name: sessions.name })
    .from(gateWaiters)
    .innerJoin(sessions, eq(sessions.id, gateWaiters.sessionId))
    .where(inArray(gateWaiters.gateId, gateIds));
  for (const r of rows) out.get(r.gateId)!.push(r.name);
  return out;
}

/** The wire form of a gate. */
export function gateToWire(g: GateRow, waiters: string[]) {
  return {
    id: g.id,
    type: g.type,
    title: g.title,
    state: g.state,
    timeout_seconds: g.timeoutMs === null ? null : g.timeoutMs / 1000,
    due_at: iso(g.dueAt),
    waiters,
    created_by: g.createdBy,
    created_at: iso(g.createdAt)!,
    closed_at: iso(g.closedAt),
    closed_by: g.closedBy,
    close_reason: g.closeReason,
  };
}
