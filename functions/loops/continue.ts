import { z } from "@hono/zod-openapi";
import { and, eq, lte, sql } from "drizzle-orm";
import { bindings } from "../../schema/bindings.ts";
import type { CommandRow } from "../../schema/commands.ts";
import { loopEvidence, loopRuns, type LoopRunRow } from "../../schema/loops.ts";
import { sessions } from "../../schema/sessions.ts";
import { tasks } from "../../schema/tasks.ts";
import { boundTask } from "../bindings/lookup.ts";
import { auditInsert } from "../lib/audit.ts";
import type { Ctx, Executor, PolicyRefusal } from "../lib/ctx.ts";
import { ApiError } from "../lib/errors.ts";
import { defineRoute, jsonBody, jsonResponse } from "../lib/route.ts";
import { createInboxItem } from "../messages/items.ts";
import { mayPushInto } from "../messages/push-authority.ts";
import { enqueueCommand } from "../queue/enqueue.ts";
import { commandToWire } from "../queue/store.ts";
import { supervisedTask } from "../supervision/access.ts";
import { missingEvidence, RunParam } from "./evidence.ts";
import { iterationInstruction, loopPolicyOf } from "./policy.ts";
import { runOf } from "./runs.ts";
import { eqLiteral } from "../lib/sql.ts";

/** What a continue_iteration command carries. */
export const ContinuePayload = z.object({
  loop_run_id: z.string().min(1).max(100),
  requested_iteration: z.number().int().min(2),
  message: z.string().max(20_000).nullable().optional(),
});

export const ContinueBody = z
  .object({
    requested_iteration: z.number().int().min(2),
    message: z.string().min(1).max(20_000).optional().openapi({ description: "What the worker should do in the next pass" }),
    correlation_id: z.string().min(1).max(200).optional(),
    idempotency_key: z.string().min(1).max(200).optional(),
  })
  .strict()
  .openapi("ContinueIteration");

export const ContinueResult = z
  .object({
    command_id: z.string(),
    command: z.record(z.string(), z.unknown()),
    created: z.boolean(),
    loop_policy: z.record(z.string(), z.unknown()),
    event_id: z.string().nullable(),
  })
  .openapi("ContinueIterationResult");

export const continueRoute = defineRoute(["owner", "session"], {
  method: "post",
  path: "/tasks/{name}/loop-runs/{run}/continue",
  tags: ["loops"],
  summary: "Queue a manager-requested next pass of a loop for the dispatcher",
  description:
    "Refuses (CONFLICT) a request for any iteration but the next (current + 1) before it becomes a queue row. The dispatcher then blocks, as a policy receipt, a pass beyond max_iterations or one whose current iteration lacks required evidence; a delivered pass reaches the worker's inbox with loop_policy. The bound manager or the owner. CLI: enqueue-continue-iteration TASK --loop-run RUN --requested-iteration N.",
  request: { params: RunParam, body: jsonBody(ContinueBody) },
  responses: { 201: jsonResponse(ContinueResult, "Queued"), 200: jsonResponse(ContinueResult, "Already queued under this idempotency key") },
});

/** Queues a continue_iteration command after refusing a request for any iteration but the next. */
export async function enqueueContinue(ctx: Ctx, name: string, runId: string, input: z.infer<typeof ContinueBody>) {
  const st = await supervisedTask(ctx, name, ["manager"]);
  const bt = await boundTask(ctx, name);
  const run = await runOf(ctx, st.task, runId);
  if (input.requested_iteration !== run.currentIteration + 1) {
    throw new ApiError("CONFLICT", `run ${run.id} is at iteration ${run.currentIteration}; iteration ${input.requested_iteration} is not the next pass`, {
      hint: `Request iteration ${run.currentIteration + 1}; each pass needs the evidence of the one before it.`,
    });
  }
  const { command, created } = await enqueueCommand(ctx, {
    type: "continue_iteration",
    taskId: st.task.id,
    sessionId: bt.worker.id,
    host: bt.worker.host,
    payload: { loop_run_id: run.id, requested_iteration: input.requested_iteration, message: input.message ?? null },
    correlationId: input.correlation_id ?? null,
    idempotencyKey: input.idempotency_key ?? null,
  });
  let eventId: string | null = null;
  if (created) {
    const audit = auditInsert(ctx, {
      kind: "loop_iteration_requested",
      taskId: st.task.id,
      payload: { loop_run_id: run.id, command_id: command.id, requested_iteration: input.requested_iteration, current_iteration: run.currentIteration },
    });
    await audit.stmt;
    eventId = audit.id;
  }
  return { command_id: command.id, command: commandToWire(command), created, loop_policy: loopPolicyOf(run), event_id: eventId };
}

/**
 * The dispatch guardrail for loop passes: a continue_iteration command runs only while its run is
 * active, for the next iteration, within max_iterations, and once every evidence type the run
 * requires is recorded as satisfied for the current iteration.
 */
export async function loopPolicy(ctx: Ctx, cmd: CommandRow): Promise<PolicyRefusal | null> {
  if (cmd.type !== "continue_iteration") return null;
  const parsed = ContinuePayload.safeParse(cmd.payload);
  if (!parsed.success) return null; // the executor's payload check fails it without a side effect
  const p = parsed.data;
  const [run] = await ctx.db.select().from(loopRuns).where(eq(loopRuns.id, p.loop_run_id)).limit(1);
  const receipt = (reason: string, extra: Record<string, unknown> = {}) => ({
    policy: "loop_guardrail",
    decision: "blocked",
    reason,
    loop_run_id: p.loop_run_id,
    requested_iteration: p.requested_iteration,
    command_id: cmd.id,
    ...(run ? { template: run.template, current_iteration: run.currentIteration, max_iterations: run.maxIterations } : {}),
    ...extra,
  });
  if (!run) return { reason: `loop run ${p.loop_run_id} does not exist`, receipt: receipt("unknown_run") };
  // As for a nudge: a pass a manager queued runs only while it still manages that worker (an
  // unbind or a re-pair since must not leave the old manager's pass queued for the task).
  if (cmd.createdBy.startsWith("session:") && cmd.sessionId && !(await mayPushInto(ctx, cmd.createdBy, cmd.sessionId))) {
    return { reason: `${cmd.createdBy} no longer manages the worker this pass was for`, receipt: receipt("manager_unbound", { created_by: cmd.createdBy }) };
  }
  if (run.state !== "active") return { reason: `loop run ${run.id} is ${run.state}`, receipt: receipt("run_not_active") };
  if (p.requested_iteration <= run.currentIteration) {
    return {
      reason: `loop run ${run.id} is already at iteration ${run.currentIteration}; iteration ${p.requested_iteration} is stale`,
      receipt: receipt("stale_iteration"),
    };
  }
  if (p.requested_iteration > run.currentIteration + 1) {
    return {
      reason: `loop run ${run.id} is at iteration ${run.currentIteration}; iteration ${p.requested_iteration} would skip the evidence of the ones between`,
      receipt: receipt("skipped_iteration"),
    };
  }
  if (p.requested_iteration > run.maxIterations) {
    return {
      reason: `loop run ${run.id} allows at most ${run.maxIterations} iterations; iteration ${p.requested_iteration} is blocked`,
      receipt: receipt("max_iterations"),
    };
  }
  const missing = await missingEvidence(ctx, run, run.currentIteration);
  if (missing.length) {
    return {
      reason: `loop run ${run.id} needs evidence for iteration ${run.currentIteration} before another pass: missing ${missing.join(", ")}`,
      receipt: receipt("missing_evidence", { missing_evidence: missing }),
    };
  }
  return null;
}

/**
 * Delivers a loop's next pass: advances the run's iteration with a conditional UPDATE (a pass
 * that lost a race is not delivered twice) and puts the instruction, with loop_policy, in the
 * bound worker's inbox (typed into its pane when it has one).
 */
const continueIteration: Executor<z.infer<typeof ContinuePayload>, Ctx> = {
  payload: ContinuePayload,
  async run(ctx, cmd, p) {
    const [bound] = await ctx.db
      .select({ binding: bindings, task: tasks })
      .from(bindings)
      .innerJoin(tasks, eq(tasks.id, bindings.taskId))
      .where(and(eq(bindings.taskId, cmd.taskId ?? ""), eqLiteral(bindings.state, "active"), eq(bindings.workerSessionId, cmd.sessionId ?? "")))
      .limit(1);
    // The pass goes to the worker it was queued for, while it is still the task's bound worker;
    // never to one bound since.
    if (!bound) throw new Error(`the worker this pass was for is no longer bound to task ${cmd.taskId}, so the pass is not delivered`);
    const nowMs = ctx.now().getTime();
    // The policy judged the run as it was when the command was claimed; another dispatcher may
    // have moved it since. So the advance itself requires the next iteration and every required
    // receipt of the current one, in the same statement.
    const evidenced = sql`NOT EXISTS (SELECT 1 FROM json_each(${loopRuns.requiredBeforeContinue}) r WHERE NOT EXISTS (
      SELECT 1 FROM ${loopEvidence} e WHERE e.run_id = ${loopRuns.id} AND e.iteration = ${loopRuns.currentIteration}
        AND e.evidence_type = r.value AND e.status = 'satisfied'))`;
    const [advanced] = await ctx.db
      .update(loopRuns)
      .set({ currentIteration: p.requested_iteration, updatedAt: nowMs })
      .where(
        and(
          eq(loopRuns.id, p.loop_run_id),
          eq(loopRuns.currentIteration, p.requested_iteration - 1),
          lte(sql`${p.requested_iteration}`, loopRuns.maxIterations),
          eq(loopRuns.state, "active"),
          evidenced,
        ),
      )
      .returning();
    if (!advanced)
      return {
        ok: false,
        result: { loop_run_id: p.loop_run_id, delivered: false },
        error: `loop run ${p.loop_run_id} is no longer ready for iteration ${p.requested_iteration} (it moved on, or the current iteration's evidence is missing)`,
      };
    const run: LoopRunRow = advanced;
    const [worker] = await ctx.db.select().from(sessions).where(eq(sessions.id, bound.binding.workerSessionId)).limit(1);
    const policy = loopPolicyOf(run);
    const message = iterationInstruction(bound.task, run, p.requested_iteration, p.message ?? null);
    const created = await createInboxItem(
      ctx,
      {
        target: worker!,
        // Whoever queued the pass: the bound manager (or the owner) may push into the worker's
        // pane; anyone else's pass would be pull only.
        originator: cmd.createdBy,
        signalType: "continue_iteration",
        taskId: bound.task.id,
        bindingId: bound.binding.id,
        correlationId: cmd.correlationId ?? cmd.id,
        dedupKey: `continue_iteration:${cmd.id}`,
        payload: {
          task: bound.task.name,
          message,
          command_id: cmd.id,
          loop_policy: policy,
          ralph_loop: { run_id: run.id, template: run.template, iteration: p.requested_iteration, previous_iteration: p.requested_iteration - 1 },
        },
      },
      { kind: "loop_iteration_delivered", payload: { command_id: cmd.id, loop_run_id: run.id, iteration: p.requested_iteration } },
    );
    return {
      ok: true,
      result: {
        loop_run_id: run.id,
        iteration: p.requested_iteration,
        inbox_item_id: created.item.id,
        delivery_mode: created.item.deliveryMode,
        delivered: true,
      },
    };
  },
};

/** The loops group's executors, spread into EXECUTORS. */
export const LOOP_EXECUTORS = { continue_iteration: continueIteration };
