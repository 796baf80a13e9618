import { z } from "@hono/zod-openapi";
import { and, eq, inArray } from "drizzle-orm";
import { bindings } from "../../schema/bindings.ts";
import { events } from "../../schema/events.ts";
import { sessions } from "../../schema/sessions.ts";
import { stopSessionEffect } from "../actuate/stop.ts";
import { StopResult } from "../actuate/schema.ts";
import { boundTask } from "../bindings/lookup.ts";
import { auditInsert } from "../lib/audit.ts";
import type { Ctx } from "../lib/ctx.ts";
import { withWriteTransaction } from "../lib/db.ts";
import { ApiError } from "../lib/errors.ts";
import { defineRoute, jsonBody, jsonResponse } from "../lib/route.ts";
import { TaskNameParam } from "../tasks/schema.ts";
import { captureBeforeStop, TranscriptCapture } from "./capture.ts";
import { eqLiteral } from "../lib/sql.ts";

export const StopTaskBody = z
  .object({
    reason: z.string().min(1).max(4000),
    stop_worker: z.boolean().optional().default(false),
    capture_transcript_before_stop: z.boolean().optional().default(false),
  })
  .strict()
  .openapi("StopTask");

export const StopTaskResult = z
  .object({
    task: z.string(),
    binding_id: z.string(),
    stopped: z.array(StopResult),
    stop_errors: z.array(z.object({ session: z.string(), error: z.string() })),
    captures: z.array(TranscriptCapture),
    event_id: z.string(),
  })
  .openapi("StopTaskResult");

export const stopTaskRoute = defineRoute(["owner"], {
  method: "post",
  path: "/tasks/{name}/stop",
  tags: ["supervision"],
  summary: "Force-stop a task's manager (and optionally its worker), ending the binding; the task stays active",
  description:
    "For a manager that went wrong: the binding ends and the reason is audited (task_stopped), so a new pair can be bound. Use finish-task for work that is done. CLI: stop-task TASK --reason R [--stop-worker].",
  request: { params: TaskNameParam, body: jsonBody(StopTaskBody) },
  responses: { 200: jsonResponse(StopTaskResult, "Stopped") },
});

/** Ends the task's binding and stops its manager (and worker when asked), recording why. */
export async function stopTask(ctx: Ctx, name: string, input: z.output<typeof StopTaskBody>) {
  const bt = await boundTask(ctx, name);
  const wanted = [bt.manager, ...(input.stop_worker ? [bt.worker] : [])];
  const captures = input.capture_transcript_before_stop ? await captureBeforeStop(ctx, bt.task.id, wanted) : [];
  const audit = auditInsert(ctx, {
    kind: "task_stopped",
    taskId: bt.task.id,
    payload: { reason: input.reason, binding_id: bt.binding.id, stop_worker: input.stop_worker, captured: captures.map((c) => c.session) },
  });
  await withWriteTransaction(ctx.db, async (tx) => {
    const [ended] = await tx
      .update(bindings)
      .set({ state: "ended", endedAt: ctx.now().getTime(), endReason: "stop" })
      .where(and(eq(bindings.id, bt.binding.id), eqLiteral(bindings.state, "active")))
      .returning({ id: bindings.id });
    if (!ended) throw new ApiError("CONFLICT", `the binding of task '${name}' ended concurrently`, { hint: `Inspect it: switchyard task show ${name}` });
    await tx.insert(events).values(audit.row);
  });
  const stopped = [];
  const stopErrors: Array<{ session: string; error: string }> = [];
  const rows = await ctx.db
    .select()
    .from(sessions)
    .where(
      inArray(
        sessions.id,
        wanted.map((s) => s.id),
      ),
    );
  for (const s of rows.filter((r) => r.state === "active")) {
    try {
      stopped.push(await stopSessionEffect(ctx, s, bt.task.id, false));
    } catch (e) {
      stopErrors.push({ session: s.name, error: (e as Error).message });
    }
  }
  return { task: bt.task.name, binding_id: bt.binding.id, stopped, stop_errors: stopErrors, captures, event_id: audit.id };
}
