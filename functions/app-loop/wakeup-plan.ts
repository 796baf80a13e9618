import type { z } from "@hono/zod-openapi";
import type { Ctx } from "../lib/ctx.ts";
import { defineRoute, jsonResponse } from "../lib/route.ts";
import { TaskNameParam } from "../tasks/schema.ts";
import { type AppLoopStatus, AppWakeupPlan, LoopQuery, type RoleStatus, type Wakeup } from "./schema.ts";
import { describeLease, loadLoopStatus, type LoopOptions } from "./status.ts";

export const wakeupPlanRoute = defineRoute(["owner", "daemon", "session"], {
  method: "get",
  path: "/tasks/{name}/app-loop/wakeup-plan",
  tags: ["app-loop"],
  summary: "Exact manager and worker wake prompts for an app loop",
  description:
    "One wake-up per role with the prompt to send to that session's app thread (id and title included when registered) and whether it is needed now. Sends nothing. A session may read only a task it is bound to. CLI: app-wakeup-plan TASK.",
  request: { params: TaskNameParam, query: LoopQuery },
  responses: { 200: jsonResponse(AppWakeupPlan, "Plan") },
});

type Status = z.infer<typeof AppLoopStatus>;

/**
 * The prompt that brings one role of the loop back: run the heartbeat, drain the inbox when
 * the session pulls, then resume its own job. Deterministic, so an operator or automation can
 * send it verbatim and a test can compare it.
 */
export function wakePrompt(status: Status, r: z.infer<typeof RoleStatus>): string {
  const task = status.task.name;
  const steps = [`Run: ${r.poll_command ?? `switchyard app-heartbeat ${task} --role ${r.role} --json`}`];
  if (r.direct_inbox_command) steps.push(`Consume your inbox until it is empty: ${r.direct_inbox_command}`);
  steps.push(
    r.role === "manager"
      ? `Observe the worker with: switchyard cycle ${task} --json, then decide the next step.`
      : "Continue the assigned work; end your turn normally when a step is complete so the manager is told.",
  );
  const cadence = Math.max(1, Math.floor(status.stale_after_seconds / 2));
  return [
    `Switchyard wake-up: you are the ${r.role} of task ${task}.`,
    `Why: ${describeLease(r)}.`,
    ...steps.map((s, i) => `${i + 1}. ${s}`),
    `Keep running the app heartbeat at least every ${cadence}s while you work on this task.`,
  ].join("\n");
}

/** The wake-ups for both roles, derived from a status already computed. */
function wakeupsFor(status: Status): Array<z.infer<typeof Wakeup>> {
  return [status.manager, status.worker].map((r) => ({
    role: r.role,
    needed: status.binding_id !== null && r.lease.state !== "fresh",
    reason: describeLease(r),
    session_id: r.session_id,
    thread: r.thread,
    prompt: wakePrompt(status, r),
  }));
}

/** app-wakeup-plan: the prompts to send, computed from the current loop status. */
export async function appWakeupPlan(ctx: Ctx, taskName: string, opts: LoopOptions) {
  const status = await loadLoopStatus(ctx, taskName, opts);
  return { status, dispatcher: status.dispatch, wakeups: wakeupsFor(status) };
}
