import { z } from "@hono/zod-openapi";
import { and, eq, inArray } from "drizzle-orm";
import { bindings } from "../../schema/bindings.ts";
import { sessions } from "../../schema/sessions.ts";
import { tasks } from "../../schema/tasks.ts";
import { events } from "../../schema/events.ts";
import { auditInsert } from "../lib/audit.ts";
import { withWriteTransaction } from "../lib/db.ts";
import type { Ctx } from "../lib/ctx.ts";
import { ApiError } from "../lib/errors.ts";
import { defineRoute, jsonBody, jsonResponse } from "../lib/route.ts";
import { afterTaskClosed } from "../convoys/complete.ts";
import { taskByName } from "../tasks/lookup.ts";
import { Task, TaskNameParam } from "../tasks/schema.ts";
import { taskToWire } from "../tasks/wire.ts";
import { captureBeforeStop, TranscriptCapture } from "../supervision/capture.ts";
import { assertGatesPass, evaluateFinishGates, FinishGateFields, GateVerdict } from "../supervision/finish-gates.ts";
import { StopResult } from "./schema.ts";
import { stopSessionEffect } from "./stop.ts";
import { eqLiteral } from "../lib/sql.ts";

export const FinishTaskBody = z
  .object({
    reason: z.string().min(1).max(4000).optional(),
    stop_worker: z.boolean().optional().default(false),
    stop_manager: z.boolean().optional().default(false),
    ...FinishGateFields,
    capture_transcript_before_stop: z
      .boolean()
      .optional()
      .default(false)
      .openapi({ description: "Capture the transcript and pane of each session to be stopped first; a failed capture stops nothing" }),
  })
  .strict()
  .openapi("FinishTask");

export const FinishTaskResult = z
  .object({
    task: Task,
    binding_id: z.string().nullable(),
    stopped: z.array(StopResult),
    stop_errors: z.array(z.object({ session: z.string(), error: z.string() })),
    gates: z.array(GateVerdict).openapi({ description: "The gates checked, all passed" }),
    captures: z.array(TranscriptCapture),
    event_id: z.string(),
  })
  .openapi("FinishTaskResult");

export const finishTaskRoute = defineRoute(["owner", "session"], {
  method: "post",
  path: "/tasks/{name}/finish",
  tags: ["actuate"],
  summary: "Mark a task finished, end its binding, optionally stop its sessions (owner, or the task's bound manager)",
  description:
    "Gates (require_criteria_audit, require_acks, require_epilogue, require_adversarial_proof) are checked first; a failed gate is POLICY_REFUSED naming everything missing, audited as finish_refused, and changes nothing. capture_transcript_before_stop captures every session to be stopped before anything is finished or stopped. CLI: finish-task TASK [--reason R] [--require-...] [--capture-transcript-before-stop] [--stop-worker] [--stop-manager].",
  request: { params: TaskNameParam, body: { ...jsonBody(FinishTaskBody), required: false } },
  responses: { 200: jsonResponse(FinishTaskResult, "Finished") },
});

/**
 * Finishes a task. The task state, the binding end and the audit row commit first, in one
 * transaction that only one concurrent finish can win; the requested stops then act on
 * sessions that are already unbound, and each writes its own audit row.
 */
export async function finishTask(ctx: Ctx, name: string, raw: z.input<typeof FinishTaskBody> | undefined) {
  const input = FinishTaskBody.parse(raw ?? {});
  const task = await taskByName(ctx, name);
  if (task.state !== "active") throw new ApiError("CONFLICT", `task '${name}' is already ${task.state}`, { hint: `Inspect it: switchyard task show ${name}` });
  const [binding] = await ctx.db
    .select()
    .from(bindings)
    .where(and(eq(bindings.taskId, task.id), eqLiteral(bindings.state, "active")))
    .limit(1);
  // The manager that supervises a task may close it (the supervision loop ends with finish-task);
  // no other session may.
  if (ctx.auth.kind === "session" && binding?.managerSessionId !== ctx.auth.sessionId) {
    throw new ApiError("FORBIDDEN", `only the owner or the bound manager of task '${name}' may finish it`, {
      hint: "Ask the owner, or use the manager's token.",
    });
  }
  const gates = await evaluateFinishGates(ctx, task, input);
  await assertGatesPass(ctx, task, gates, "finish");
  const wanted = binding
    ? [input.stop_worker ? binding.workerSessionId : null, input.stop_manager ? binding.managerSessionId : null].filter((x): x is string => !!x)
    : [];
  let captures: Awaited<ReturnType<typeof captureBeforeStop>> = [];
  if (input.capture_transcript_before_stop && wanted.length) {
    const targets = await ctx.db.select().from(sessions).where(inArray(sessions.id, wanted));
    captures = await captureBeforeStop(
      ctx,
      task.id,
      targets.filter((s) => s.state === "active"),
    );
  }
  const nowMs = ctx.now().getTime();
  const audit = auditInsert(ctx, {
    kind: "task_finished",
    taskId: task.id,
    payload: {
      reason: input.reason ?? null,
      binding_id: binding?.id ?? null,
      stop_requested: { worker: input.stop_worker, manager: input.stop_manager },
      gates: gates.map((g) => g.gate),
      captured: captures.map((c) => c.session),
    },
  });
  const row = await withWriteTransaction(ctx.db, async (tx) => {
    const [updated] = await tx
      .update(tasks)
      .set({ state: "finished", finishedAt: nowMs, updatedAt: nowMs })
      .where(and(eq(tasks.id, task.id), eq(tasks.state, "active")))
      .returning();
    if (!updated)
      throw new ApiError("CONFLICT", `task '${name}' was finished concurrently`, {
        hint: `Another request finished it first; \`switchyard task show ${name}\` shows its state, and \`switchyard task reopen ${name}\` reopens it.`,
      });
    if (binding)
      await tx
        .update(bindings)
        .set({ state: "ended", endedAt: nowMs, endReason: "finish" })
        .where(and(eq(bindings.id, binding.id), eqLiteral(bindings.state, "active")));
    await tx.insert(events).values(audit.row);
    return updated;
  });
  // Convoys and dependents react at once; if this fails the patrol's convoy and dependency steps catch up.
  await afterTaskClosed(ctx, task.id).catch((e: Error) => ctx.log.error("after task closed failed", { task: name, error: e.message }));
  const stopped = [];
  const stopErrors: Array<{ session: string; error: string }> = [];
  for (const id of wanted) {
    const [s] = await ctx.db.select().from(sessions).where(eq(sessions.id, id));
    if (!s || s.state !== "active") continue;
    try {
      stopped.push(await stopSessionEffect(ctx, s, task.id, false));
    } catch (e) {
      stopErrors.push({ session: s.name, error: (e as Error).message });
    }
  }
  return { task: taskToWire(row), binding_id: binding?.id ?? null, stopped, stop_errors: stopErrors, gates, captures, event_id: audit.id };
}
