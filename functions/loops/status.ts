import { z } from "@hono/zod-openapi";
import { and, desc, eq, isNull } from "drizzle-orm";
import { commands } from "../../schema/commands.ts";
import { inboxItems } from "../../schema/messages.ts";
import type { Ctx } from "../lib/ctx.ts";
import { defineRoute, jsonResponse } from "../lib/route.ts";
import { supervisedTask } from "../supervision/access.ts";
import { evidenceOfRun, evidenceToWire, LoopEvidence, missingEvidence, RunParam } from "./evidence.ts";
import { loopPolicyOf } from "./policy.ts";
import { LoopRun, runOf, runToWire } from "./runs.ts";

/** How many of a task's recent commands and inbox items a status looks through. */
const STATUS_WINDOW = 500;

export const LoopStatus = z
  .object({
    run: LoopRun,
    loop_policy: z.record(z.string(), z.unknown()),
    iterations: z.object({ current: z.number().int(), max: z.number().int(), remaining: z.number().int() }),
    commands: z.object({ by_state: z.record(z.string(), z.number().int()), refused: z.array(z.record(z.string(), z.unknown())) }),
    notifications: z.object({ delivered: z.number().int(), consumed: z.number().int(), pending: z.number().int() }),
    worker_inbox_backlog: z.number().int(),
    evidence: z.array(LoopEvidence).openapi({ description: "The run's newest 500 receipts, oldest first" }),
    evidence_total: z.number().int().openapi({ description: "How many receipts the run has in all" }),
    evidence_types_by_iteration: z.record(z.string(), z.array(z.string())),
    missing_for_current_iteration: z.array(z.string()),
    failures: z.number().int(),
    recommendation: z.string(),
  })
  .openapi("LoopStatus");

export const loopStatusRoute = defineRoute(["owner", "daemon", "session"], {
  method: "get",
  path: "/tasks/{name}/loop-runs/{run}/status",
  tags: ["loops"],
  summary: "A loop run for manager review: policy, iterations, commands, refusals, deliveries, evidence and a recommendation",
  description: "CLI: loop-status TASK --run RUN.",
  request: { params: RunParam },
  responses: { 200: jsonResponse(LoopStatus, "Status") },
});

/** Summarizes a run from its row, its evidence and the task's recent commands and inbox items. */
export async function loopStatus(ctx: Ctx, name: string, runId: string) {
  const st = await supervisedTask(ctx, name, ["worker", "manager"]);
  const run = await runOf(ctx, st.task, runId);
  const [evidence, cmds, items, missing] = await Promise.all([
    evidenceOfRun(ctx, run.id),
    ctx.db.select().from(commands).where(eq(commands.taskId, st.task.id)).orderBy(desc(commands.createdAt)).limit(STATUS_WINDOW),
    ctx.db.select().from(inboxItems).where(eq(inboxItems.taskId, st.task.id)).orderBy(desc(inboxItems.createdAt)).limit(STATUS_WINDOW),
    missingEvidence(ctx, run, run.currentIteration),
  ]);
  const mine = cmds.filter((c) => c.type === "continue_iteration" && (c.payload as { loop_run_id?: string }).loop_run_id === run.id);
  const byState: Record<string, number> = {};
  for (const c of mine) byState[c.state] = (byState[c.state] ?? 0) + 1;
  const refused = mine
    .filter((c) => c.state === "failed" && c.result && "policy_receipt" in c.result)
    .map((c) => ({ command_id: c.id, error: c.error, ...(c.result!.policy_receipt as Record<string, unknown>) }));
  const delivered = items.filter(
    (i) => i.signalType === "continue_iteration" && (i.payload as { loop_policy?: { run_id?: string } }).loop_policy?.run_id === run.id,
  );
  const consumed = delivered.filter((i) => i.consumedAt !== null).length;
  const workerId = mine[0]?.sessionId ?? delivered[0]?.targetSessionId ?? null;
  const backlog = workerId
    ? (
        await ctx.db
          .select({ id: inboxItems.id })
          .from(inboxItems)
          .where(and(eq(inboxItems.targetSessionId, workerId), isNull(inboxItems.consumedAt)))
          .limit(STATUS_WINDOW)
      ).length
    : 0;
  const byIteration = evidence.satisfied;
  const failures = mine.filter((c) => c.state === "failed" || c.state === "dead").length;
  const next = run.currentIteration + 1;
  const recommendation =
    run.state !== "active"
      ? `the run is ${run.state}`
      : (byState.pending ?? 0) > 0
        ? "a pass is queued: run the dispatcher (switchyard dispatch --once) or wait for it"
        : delivered.length > consumed
          ? "the worker has not consumed its latest pass yet: it should poll switchyard worker-inbox --consume-next"
          : missing.length
            ? `record evidence for iteration ${run.currentIteration} before another pass: ${missing.join(", ")}`
            : next > run.maxIterations
              ? `max_iterations (${run.maxIterations}) reached: review the result and finish the task or stop the loop`
              : `evidence is complete: request iteration ${next} with switchyard enqueue-continue-iteration ${st.task.name} --loop-run ${run.id} --requested-iteration ${next}`;
  return {
    run: runToWire(st.task, run),
    loop_policy: loopPolicyOf(run),
    iterations: { current: run.currentIteration, max: run.maxIterations, remaining: Math.max(0, run.maxIterations - run.currentIteration) },
    commands: { by_state: byState, refused },
    notifications: { delivered: delivered.length, consumed, pending: delivered.length - consumed },
    worker_inbox_backlog: backlog,
    evidence: evidence.rows.map(evidenceToWire),
    evidence_total: evidence.total,
    evidence_types_by_iteration: byIteration,
    missing_for_current_iteration: missing,
    failures,
    recommendation,
  };
}
