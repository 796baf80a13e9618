import { and, eq, notExists } from "drizzle-orm";
import { bindings } from "../../schema/bindings.ts";
import { sessions } from "../../schema/sessions.ts";
import { auditInsert, guardedUpdate } from "../lib/audit.ts";
import type { Ctx } from "../lib/ctx.ts";
import { ApiError } from "../lib/errors.ts";
import { defineRoute, jsonResponse } from "../lib/route.ts";
import { activeSessionByName, assertSelfOrPrivileged } from "./lookup.ts";
import { DeregisterResult, NameParam } from "./schema.ts";
import { sessionToWire } from "./wire.ts";
import { activeBindingOf, involvesSession } from "../bindings/lookup.ts";
import { eqLiteral } from "../lib/sql.ts";

export const deregisterRoute = defineRoute(
  ["owner", "session"],
  {
    method: "post",
    path: "/sessions/{name}/deregister",
    tags: ["sessions"],
    summary: "Mark a session gone",
    description: "Refused while the session is bound to an active task. A session may deregister only itself. CLI: deregister.",
    request: { params: NameParam },
    responses: { 200: jsonResponse(DeregisterResult, "Deregistered") },
  },
  { idempotency: "atomic" },
);

/** Marks a session gone unless it is bound to an active task. */
export async function deregisterSession(ctx: Ctx, name: string, respond?: number) {
  const row = await activeSessionByName(ctx, name);
  assertSelfOrPrivileged(ctx, row);
  const bound = await activeBindingOf(ctx, row.id);
  if (bound) {
    throw new ApiError("SESSION_BOUND", `session '${name}' is bound to active task '${bound.task}'`, {
      hint: `Unbind it first: switchyard unbind --task ${bound.task}`,
    });
  }
  const nowMs = ctx.now().getTime();
  const audit = auditInsert(ctx, { kind: "session_deregistered", sessionId: row.id, payload: { name } });
  const result = (s: typeof sessions.$inferSelect) => ({ session: sessionToWire(s), session_id: s.id, event_id: audit.id });
  // The state guard makes a concurrent second deregister a no-op rather than a double write.
  const done = await guardedUpdate(
    ctx,
    audit,
    // NOT EXISTS under the write lock: a bind that won the race keeps its session.
    (tx) =>
      tx
        .update(sessions)
        .set({ state: "gone", goneAt: nowMs, updatedAt: nowMs })
        .where(
          and(
            eq(sessions.id, row.id),
            eqLiteral(sessions.state, "active"),
            notExists(tx.select({ id: bindings.id }).from(bindings).where(involvesSession(row.id))),
          ),
        )
        .returning(),
    () => new ApiError("CONFLICT", `session '${name}' was bound or deregistered concurrently`, { hint: `Check it: switchyard session show ${name}` }),
    (changed) => (respond ? { body: result(changed), status: respond } : undefined),
  );
  return result(done);
}
