import { and, eq, sql } from "drizzle-orm";
import { sessions } from "../../schema/sessions.ts";
import type { Ctx } from "../lib/ctx.ts";
import { ApiError } from "../lib/errors.ts";
import { batchWithKey } from "../lib/idempotency.ts";
import { defineRoute, jsonResponse } from "../lib/route.ts";
import { iso, eqLiteral } from "../lib/sql.ts";
import { activeSessionByName, assertSelfOrPrivileged } from "./lookup.ts";
import { HeartbeatResult, NameParam } from "./schema.ts";

export const heartbeatRoute = defineRoute(
  ["owner", "runner", "session"],
  {
    method: "post",
    path: "/sessions/{name}/heartbeat",
    tags: ["sessions"],
    summary: "Record that a session is alive",
    description: "A session may heartbeat only itself. heartbeat-sweep reports sessions that stop doing this.",
    request: { params: NameParam },
    responses: { 200: jsonResponse(HeartbeatResult, "Recorded") },
  },
  { idempotency: "atomic" },
);

/**
 * Stamps the session's last heartbeat with the current time. `respond` is the route's status,
 * stored with the request's Idempotency-Key in the same batch, only if the session was active.
 */
export async function heartbeatSession(ctx: Ctx, name: string, respond?: number) {
  const row = await activeSessionByName(ctx, name);
  assertSelfOrPrivileged(ctx, row);
  const nowMs = ctx.now().getTime();
  const result = { session_id: row.id, last_heartbeat_at: iso(nowMs)! };
  const stamped = sql`EXISTS (SELECT 1 FROM ${sessions} WHERE ${sessions.id} = ${row.id} AND ${sessions.state} = 'active' AND ${sessions.lastHeartbeatAt} = ${nowMs})`;
  const [updated] = await batchWithKey(
    ctx,
    [
      ctx.db
        .update(sessions)
        .set({ lastHeartbeatAt: nowMs })
        .where(and(eq(sessions.id, row.id), eqLiteral(sessions.state, "active")))
        .returning({ id: sessions.id }),
    ],
    respond ? { body: result, status: respond, guard: stamped } : undefined,
  );
  if (!updated.length) {
    throw new ApiError("SESSION_INACTIVE", `session '${name}' was deregistered`, {
      hint: "Register the agent again (`switchyard register-worker` or `register-manager`) and heartbeat the new session.",
    });
  }
  return result;
}
