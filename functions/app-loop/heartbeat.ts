import type { z } from "@hono/zod-openapi";
import { and, eq, sql } from "drizzle-orm";
import { events } from "../../schema/events.ts";
import { sessions } from "../../schema/sessions.ts";
import { auditInsert } from "../lib/audit.ts";
import type { Ctx } from "../lib/ctx.ts";
import { guardedInsert } from "../lib/guarded.ts";
import { ApiError } from "../lib/errors.ts";
import { defineRoute, jsonBody, jsonResponse } from "../lib/route.ts";
import { iso, eqLiteral } from "../lib/sql.ts";
import { taskByName } from "../tasks/lookup.ts";
import { TaskNameParam } from "../tasks/schema.ts";
import { activeBinding, assertLoopParticipant, boundSessionId } from "./access.ts";
import { AppHeartbeatBody, AppHeartbeatResult, RECEIPT_KINDS } from "./schema.ts";
import { computeLoopStatus, heartbeatCommand } from "./status.ts";

export const appHeartbeatRoute = defineRoute(["owner", "session"], {
  method: "post",
  path: "/tasks/{name}/app-loop/heartbeat",
  tags: ["app-loop"],
  summary: "Record an app (no-tmux) manager or worker heartbeat and get that role's next poll commands",
  description:
    "The recurring heartbeat of a pull-required app session: stamps the bound session's last heartbeat, writes an app_heartbeat receipt and returns the loop status. A session may heartbeat only the role it is bound to. CLI: app-heartbeat TASK --role manager|worker.",
  request: { params: TaskNameParam, body: jsonBody(AppHeartbeatBody) },
  responses: { 200: jsonResponse(AppHeartbeatResult, "Recorded") },
});

/** Records the heartbeat of the session bound to `role` and reports what it should poll next. */
export async function appHeartbeat(ctx: Ctx, taskName: string, input: z.infer<typeof AppHeartbeatBody>) {
  const task = await taskByName(ctx, taskName);
  const binding = await activeBinding(ctx, task.id);
  if (!binding) {
    throw new ApiError("NOT_FOUND", `task '${task.name}' has no active binding`, {
      hint: `Bind a worker and a manager: switchyard bind --task ${task.name} --worker <W> --manager <M>`,
    });
  }
  assertLoopParticipant(ctx, task.name, binding, [input.role]);
  const sessionId = boundSessionId(binding, input.role);
  const nowMs = ctx.now().getTime();
  const audit = auditInsert(ctx, {
    kind: RECEIPT_KINDS.heartbeat,
    taskId: task.id,
    sessionId,
    payload: { role: input.role, binding_id: binding.id, poll_command: heartbeatCommand(task.name, input.role) },
  });
  // One batch, no transaction held across round trips. The state guard keeps a heartbeat from
  // reviving a session that went away meanwhile, and the receipt is written only when the stamp
  // was (its guard sees this very stamp, inside the same batch).
  const [updated] = await ctx.db.batch([
    ctx.db
      .update(sessions)
      .set({ lastHeartbeatAt: nowMs })
      .where(and(eq(sessions.id, sessionId), eqLiteral(sessions.state, "active")))
      .returning({ id: sessions.id }),
    guardedInsert(
      ctx.db,
      events,
      audit.row,
      sql`EXISTS (SELECT 1 FROM ${sessions} WHERE ${sessions.id} = ${sessionId} AND ${sessions.state} = 'active' AND ${sessions.lastHeartbeatAt} = ${nowMs})`,
    ),
  ]);
  if (!updated.length) {
    throw new ApiError("SESSION_INACTIVE", `the ${input.role} bound to task '${task.name}' is gone`, {
      hint: `Register a new ${input.role} and rebind: switchyard unbind --task ${task.name}, then switchyard bind ...`,
    });
  }
  const status = await computeLoopStatus(ctx, task, input);
  const own = input.role === "manager" ? status.manager : status.worker;
  return {
    task: { id: task.id, name: task.name },
    role: input.role,
    session_id: sessionId,
    heartbeat: { state: "recorded" as const, recorded_at: iso(nowMs)! },
    next: { poll_command: own.poll_command, direct_inbox_command: own.direct_inbox_command, pending_inbox: own.pending_inbox },
    status,
    event_id: audit.id,
  };
}
