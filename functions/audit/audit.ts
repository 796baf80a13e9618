import type { z } from "@hono/zod-openapi";
import { asc, eq } from "drizzle-orm";
import { events } from "../../schema/events.ts";
import { redactContent } from "../lib/audit.ts";
import type { Ctx } from "../lib/ctx.ts";
import { defineRoute, jsonResponse } from "../lib/route.ts";
import { iso } from "../lib/sql.ts";
import { taskByName } from "../tasks/lookup.ts";
import { TaskNameParam } from "../tasks/schema.ts";
import { AuditQuery, AuditResult } from "./schema.ts";

export const auditRoute = defineRoute(
  ["owner", "daemon"],
  {
    method: "get",
    path: "/tasks/{name}/audit",
    tags: ["audit"],
    summary: "The audit events of a task, oldest first",
    description: "Content fields are redacted unless include_content=true. CLI: audit TASK.",
    request: { params: TaskNameParam, query: AuditQuery },
    responses: { 200: jsonResponse(AuditResult, "Events") },
  },
  { rateLimited: true },
);

/** Lists the events rows written for a task. */
export async function auditTask(ctx: Ctx, name: string, q: z.output<typeof AuditQuery>) {
  const task = await taskByName(ctx, name);
  const rows = await ctx.db.select().from(events).where(eq(events.taskId, task.id)).orderBy(asc(events.createdAt), asc(events.id)).limit(q.limit);
  return {
    task: task.name,
    task_id: task.id,
    events: rows.map((e) => ({
      id: e.id,
      kind: e.kind,
      task_id: e.taskId,
      session_id: e.sessionId,
      actor: e.actor,
      payload: (q.include_content ? e.payload : redactContent(e.payload)) as Record<string, unknown>,
      created_at: iso(e.createdAt)!,
    })),
    count: rows.length,
    content_redacted: !q.include_content,
  };
}
