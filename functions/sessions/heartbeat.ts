import { and, eq } from "drizzle-orm";
import { sessions } from "../../schema/sessions.ts";
import type { Ctx } from "../lib/ctx.ts";
import { ApiError } from "../lib/errors.ts";
import { defineRoute, jsonResponse } from "../lib/route.ts";
import { iso } from "../lib/sql.ts";
import { activeSessionByName, assertSelfOrPrivileged } from "./lookup.ts";
import { HeartbeatResult, NameParam } from "./schema.ts";

export const heartbeatRoute = defineRoute(["owner", "runner", "session"], {
  method: "post",
  path: "/sessions/{name}/heartbeat",
  tags: ["sessions"],
  summary: "Record that a session is alive",
  description: "A session may heartbeat only itself. heartbeat-sweep reports sessions that stop doing this.",
  request: { params: NameParam },
  responses: { 200: jsonResponse(HeartbeatResult, "Recorded") },
});

/** Stamps the session's last heartbeat with the current time. */
export async function heartbeatSession(ctx: Ctx, name: string) {
  const row = await activeSessionByName(ctx, name);
  assertSelfOrPrivileged(ctx, row);
  const nowMs = ctx.now().getTime();
  const updated = await ctx.db
    .update(sessions)
    .set({ lastHeartbeatAt: nowMs })
    .where(and(eq(sessions.id, row.id), eq(sessions.state, "active")))
    .returning({ id: sessions.id });
  if (!updated.length) throw new ApiError("SESSION_INACTIVE", `session '${name}' was deregistered`);
  return { session_id: row.id, last_heartbeat_at: iso(nowMs)! };
}
