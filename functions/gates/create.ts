import type { z } from "@hono/zod-openapi";
import { gates, gateWaiters, type GateRow } from "../../schema/gates.ts";
import { auditInsert } from "../lib/audit.ts";
import { actorOf, type Ctx } from "../lib/ctx.ts";
import { ApiError } from "../lib/errors.ts";
import { batchWithKey } from "../lib/idempotency.ts";
import { defineRoute, jsonBody, jsonResponse } from "../lib/route.ts";
import { activeSessionByName } from "../sessions/lookup.ts";
import { CreateGateBody, GateResult } from "./schema.ts";
import { gateToWire } from "./wire.ts";

export const createGateRoute = defineRoute(
  ["owner", "session"],
  {
    method: "post",
    path: "/gates",
    tags: ["gates"],
    summary: "Create a gate: a timer that the patrol closes when it elapses, or a human/mail gate closed by hand",
    description:
      "Waiters are notified (in their inboxes) when the gate closes, exactly once. A session may create a gate only with itself as the waiter. CLI: gate create --type timer --timeout 10m --waiter S.",
    request: { body: jsonBody(CreateGateBody) },
    responses: { 201: jsonResponse(GateResult, "Created") },
  },
  { idempotency: "atomic" },
);

/**
 * Creates a gate with its waiters and an audit row, in one batch; `respond` is the route's
 * status, stored with the request's Idempotency-Key in that batch.
 */
export async function createGate(ctx: Ctx, input: z.output<typeof CreateGateBody>, respond?: number) {
  if (input.type === "timer" && input.timeout_seconds === undefined) {
    throw new ApiError("VALIDATION_FAILED", "a timer gate needs timeout_seconds", {
      hint: "Pass --timeout 10m (or 30s, 2h, 1d).",
      fields: [{ field: "timeout_seconds", message: "required for a timer gate" }],
    });
  }
  if (input.type !== "timer" && input.timeout_seconds !== undefined) {
    throw new ApiError("VALIDATION_FAILED", `a ${input.type} gate has no timeout; it is closed with gate close`, {
      hint: "Leave out timeout_seconds (--timeout), or create a timer gate (--type timer --timeout 10m).",
      fields: [{ field: "timeout_seconds", message: `not allowed for a ${input.type} gate` }],
    });
  }
  const waiters = [];
  for (const name of new Set(input.waiters)) waiters.push(await activeSessionByName(ctx, name));
  if (ctx.auth.kind === "session") {
    const self = ctx.auth.sessionId;
    if (waiters.some((w) => w.id !== self)) {
      throw new ApiError("FORBIDDEN", "a session may create a gate only with itself as the waiter", { hint: "Leave out other waiters, or ask the owner." });
    }
  }
  const nowMs = ctx.now().getTime();
  const timeoutMs = input.timeout_seconds === undefined ? null : input.timeout_seconds * 1000;
  const row: GateRow = {
    id: ctx.newId("gat"),
    type: input.type,
    title: input.title ?? null,
    state: "open",
    timeoutMs,
    dueAt: timeoutMs === null ? null : nowMs + timeoutMs,
    createdBy: actorOf(ctx.auth),
    createdBySessionId: ctx.auth.kind === "session" ? ctx.auth.sessionId : null,
    createdAt: nowMs,
    closedAt: null,
    closedBy: null,
    closeReason: null,
    closeToken: null,
  };
  const audit = auditInsert(ctx, {
    kind: "gate_created",
    payload: { gate_id: row.id, type: row.type, timeout_ms: timeoutMs, waiters: waiters.map((w) => w.name) },
  });
  const result = {
    gate: gateToWire(
      row,
      waiters.map((w) => w.name),
    ),
    gate_id: row.id,
    event_id: audit.id,
  };
  await batchWithKey(
    ctx,
    [ctx.db.insert(gates).values(row), ...waiters.map((w) => ctx.db.insert(gateWaiters).values({ gateId: row.id, sessionId: w.id })), audit.stmt],
    respond ? { body: result, status: respond } : undefined,
  );
  return result;
}
