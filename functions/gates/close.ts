import type { z } from "@hono/zod-openapi";
import { and, eq, sql } from "drizzle-orm";
import { events } from "../../schema/events.ts";
import { gates, gateWaiters, type GateRow } from "../../schema/gates.ts";
import { auditInsert } from "../lib/audit.ts";
import { actorOf, type Ctx } from "../lib/ctx.ts";
import { ApiError, notFound } from "../lib/errors.ts";
import { guardedInsert } from "../lib/guarded.ts";
import { batchWithKey } from "../lib/idempotency.ts";
import { defineRoute, jsonBody, jsonResponse } from "../lib/route.ts";
import { noticeStatements } from "../patrol/notify.ts";
import { CloseGateBody, CloseGateResult, GateIdParam } from "./schema.ts";
import { gateToWire, waiterNames } from "./wire.ts";

export const closeGateRoute = defineRoute(
  ["owner", "session"],
  {
    method: "post",
    path: "/gates/{id}/close",
    tags: ["gates"],
    summary: "Close a gate and notify its waiters (owner, or the session that created it)",
    description: "Closing and owing the waiters their notification are one atomic step. A closed gate answers CONFLICT. CLI: gate close ID --reason R.",
    request: { params: GateIdParam, body: jsonBody(CloseGateBody) },
    responses: { 200: jsonResponse(CloseGateResult, "Closed") },
  },
  { idempotency: "atomic" },
);

/** The dedup key of one waiter's notification for one gate. */
export function gateNoticeKey(gateId: string, sessionId: string): string {
  return `gate_closed:${gateId}:${sessionId}`;
}

/**
 * Closes a gate if it is still open. One batch: the conditional UPDATE stamps a fresh close
 * token, and the waiters' notifications and the audit row are written only where that token
 * is found. So either the gate is closed and every waiter is owed exactly one notification, or
 * nothing happened (lost race, crash): there is no state in between for a retry to repeat.
 * Returns whether this call closed it. `respond` (the route) builds its response from the closed
 * row and audit id; it is stored with the request's Idempotency-Key under the same guard.
 */
export async function closeGateAtomically(
  ctx: Ctx,
  gate: GateRow,
  reason: string,
  respond?: (closed: GateRow, eventId: string) => { body: unknown; status: number },
): Promise<{ closed: boolean; notified: string[]; eventId: string; row: GateRow }> {
  const nowMs = ctx.now().getTime();
  const token = ctx.newId("gct");
  const guard = sql`EXISTS (SELECT 1 FROM ${gates} WHERE ${gates.id} = ${gate.id} AND ${gates.closeToken} = ${token})`;
  const waiters = await ctx.db.select({ sessionId: gateWaiters.sessionId }).from(gateWaiters).where(eq(gateWaiters.gateId, gate.id));
  const label = gate.title ? `${gate.title} (${gate.id})` : gate.id;
  const audit = auditInsert(ctx, { kind: "gate_closed", payload: { gate_id: gate.id, type: gate.type, reason, waiters: waiters.length } });
  const closedRow: GateRow = { ...gate, state: "closed", closedAt: nowMs, closedBy: actorOf(ctx.auth), closeReason: reason, closeToken: token };
  await batchWithKey(
    ctx,
    [
      ctx.db
        .update(gates)
        .set({ state: "closed", closedAt: nowMs, closedBy: actorOf(ctx.auth), closeReason: reason, closeToken: token })
        .where(and(eq(gates.id, gate.id), eq(gates.state, "open"))),
      guardedInsert(ctx.db, events, audit.row, guard),
      ...noticeStatements(
        ctx,
        waiters.map((w) => ({
          to: { sessionId: w.sessionId },
          kind: "gate_closed",
          subject: `Gate cleared: ${label}`,
          body: `The ${gate.type} gate ${label} you were waiting on has closed: ${reason}.`,
          payload: { gate_id: gate.id, gate_type: gate.type, reason },
          dedupKey: gateNoticeKey(gate.id, w.sessionId),
        })),
        guard,
      ),
    ],
    respond ? { ...respond(closedRow, audit.id), guard } : undefined,
  );
  const [after] = await ctx.db.select({ token: gates.closeToken }).from(gates).where(eq(gates.id, gate.id));
  const closed = after?.token === token;
  return { closed, notified: closed ? waiters.map((w) => w.sessionId) : [], eventId: audit.id, row: closedRow };
}

/** Closes a gate by hand; only the owner or the session that created it. */
export async function closeGate(ctx: Ctx, id: string, input: z.output<typeof CloseGateBody>, respond?: number) {
  const [gate] = await ctx.db.select().from(gates).where(eq(gates.id, id)).limit(1);
  if (!gate) throw notFound("gate", id, "List gates with: switchyard gate list --state all");
  if (ctx.auth.kind === "session" && gate.createdBySessionId !== ctx.auth.sessionId) {
    throw new ApiError("FORBIDDEN", `only the owner or the session that created gate '${id}' may close it`, { hint: "Ask the owner." });
  }
  const alreadyClosed = () =>
    new ApiError("CONFLICT", `gate '${id}' is already closed`, {
      hint: `It closed at ${new Date(gate.closedAt ?? ctx.now().getTime()).toISOString()}: ${gate.closeReason ?? ""}`,
    });
  if (gate.state !== "open") throw alreadyClosed();
  const names = (await waiterNames(ctx, [id])).get(id) ?? [];
  const result = (row: GateRow, eventId: string) => ({ gate: gateToWire(row, names), gate_id: id, notified: names, event_id: eventId });
  const r = await closeGateAtomically(ctx, gate, input.reason, respond ? (row, eventId) => ({ body: result(row, eventId), status: respond }) : undefined);
  if (!r.closed) throw new ApiError("CONFLICT", `gate '${id}' was closed concurrently`, { hint: "See switchyard gate show ID." });
  return result(r.row, r.eventId);
}
