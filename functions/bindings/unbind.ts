import type { z } from "@hono/zod-openapi";
import { and, eq, inArray } from "drizzle-orm";
import { bindings } from "../../schema/bindings.ts";
import { sessions } from "../../schema/sessions.ts";
import { auditInsert, guardedUpdate } from "../lib/audit.ts";
import type { Ctx } from "../lib/ctx.ts";
import { ApiError } from "../lib/errors.ts";
import { defineRoute, jsonBody, jsonResponse } from "../lib/route.ts";
import { taskByName } from "../tasks/lookup.ts";
import { bindingToWire } from "../tasks/wire.ts";
import { BindResult, UnbindBody } from "./schema.ts";
import { eqLiteral } from "../lib/sql.ts";

export const unbindRoute = defineRoute(
  ["owner"],
  {
    method: "post",
    path: "/bindings/unbind",
    tags: ["bindings"],
    summary: "End the task's active binding",
    description: "CLI: unbind --task T.",
    request: { body: jsonBody(UnbindBody) },
    responses: { 200: jsonResponse(BindResult, "Unbound") },
  },
  { idempotency: "atomic" },
);

/** Ends the active binding of a task. */
export async function unbindTask(ctx: Ctx, input: z.infer<typeof UnbindBody>, respond?: number) {
  const task = await taskByName(ctx, input.task);
  const nowMs = ctx.now().getTime();
  const [active] = await ctx.db
    .select()
    .from(bindings)
    .where(and(eq(bindings.taskId, task.id), eqLiteral(bindings.state, "active")))
    .limit(1);
  if (!active) {
    throw new ApiError("NOT_FOUND", `task '${task.name}' has no active binding`, { hint: `See its history: switchyard task show ${task.name}` });
  }
  const audit = auditInsert(ctx, { kind: "task_unbound", taskId: task.id, payload: { binding_id: active.id } });
  // The names are read first so the answer exists before the commit that stores it with the key.
  const names = await ctx.db
    .select({ id: sessions.id, name: sessions.name })
    .from(sessions)
    .where(inArray(sessions.id, [active.workerSessionId, active.managerSessionId]));
  const nameOf = (id: string) => names.find((n) => n.id === id)?.name ?? "?";
  const result = (b: typeof bindings.$inferSelect) => ({
    binding: bindingToWire(b, { task: task.name, worker: nameOf(b.workerSessionId), manager: nameOf(b.managerSessionId) }),
    binding_id: b.id,
    event_id: audit.id,
  });
  const row = await guardedUpdate(
    ctx,
    audit,
    (tx) =>
      tx
        .update(bindings)
        .set({ state: "ended", endedAt: nowMs, endReason: "unbind" })
        .where(and(eq(bindings.id, active.id), eqLiteral(bindings.state, "active")))
        .returning(),
    () =>
      new ApiError("CONFLICT", `the binding of task '${task.name}' was ended concurrently`, {
        hint: `Another request ended it first; \`switchyard task show ${task.name}\` shows the task's binding now.`,
      }),
    (b) => (respond ? { body: result(b), status: respond } : undefined),
  );
  return result(row);
}
