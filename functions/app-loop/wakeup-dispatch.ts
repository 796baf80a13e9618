import type { z } from "@hono/zod-openapi";
import { auditInsert } from "../lib/audit.ts";
import { batchWithKey } from "../lib/idempotency.ts";
import type { Ctx } from "../lib/ctx.ts";
import { defineRoute, jsonBody, jsonResponse } from "../lib/route.ts";
import { iso } from "../lib/sql.ts";
import { TaskNameParam } from "../tasks/schema.ts";
import { type AppLoopStatus, AppWakeupDispatch, LoopOptionsBody, RECEIPT_KINDS, type WakeAction } from "./schema.ts";
import { describeLease, loadLoopStatus } from "./status.ts";
import { wakePrompt } from "./wakeup-plan.ts";

export const wakeupDispatchRoute = defineRoute(
  ["owner", "daemon", "session"],
  {
    method: "post",
    path: "/tasks/{name}/app-loop/wakeup-dispatch",
    tags: ["app-loop"],
    summary: "Prepare adapter-ready wake actions and record an app_wakeup_dispatch_planned receipt",
    description:
      "Each role gets ready_to_send (stale or missing lease, thread known: send_ready=true), skipped_healthy (fresh lease) or blocked_missing_thread (needs waking but has no app thread to send to). Nothing is sent: the app/operator layer sends the send_ready prompts and reports back with app-wakeup-record-delivery, citing event_id. A session may do this only as the task's bound manager. CLI: app-wakeup-dispatch TASK.",
    request: { params: TaskNameParam, body: jsonBody(LoopOptionsBody) },
    responses: { 200: jsonResponse(AppWakeupDispatch, "Planned") },
  },
  { idempotency: "atomic" },
);

type Status = z.infer<typeof AppLoopStatus>;

function actionsFor(status: Status): Array<z.infer<typeof WakeAction>> {
  return [status.manager, status.worker].map((r) => {
    const base = { role: r.role, reason: describeLease(r), session_id: r.session_id, thread: r.thread };
    if (r.lease.state === "fresh") return { ...base, status: "skipped_healthy" as const, send_ready: false, blocker: null, prompt: null };
    // A gone session keeps its thread id, but nothing is listening there any more.
    if (!r.thread.id || r.session_state !== "active") {
      const blocker =
        r.session_state === "active"
          ? `${r.role} ${r.name} has no app thread id; re-register it with --thread-id, or wake it by hand with the prompt below`
          : `no live ${r.role} is bound to task ${status.task.name}; run switchyard reconcile --apply, then bind a new ${r.role}`;
      return { ...base, status: "blocked_missing_thread" as const, send_ready: false, blocker, prompt: wakePrompt(status, r) };
    }
    return { ...base, status: "ready_to_send" as const, send_ready: true, blocker: null, prompt: wakePrompt(status, r) };
  });
}

/**
 * app-wakeup-dispatch: turns the loop status into one wake action per role and records the
 * plan as a receipt, which later delivery reports must cite. It never sends anything itself.
 */
export async function appWakeupDispatch(ctx: Ctx, taskName: string, opts: z.infer<typeof LoopOptionsBody>, respond?: number) {
  const status = await loadLoopStatus(ctx, taskName, opts, ["manager"]);
  const actions = actionsFor(status);
  const summary = {
    ready_to_send: actions.filter((a) => a.status === "ready_to_send").length,
    skipped_healthy: actions.filter((a) => a.status === "skipped_healthy").length,
    blocked: actions.filter((a) => a.status === "blocked_missing_thread").length,
    dispatcher_required: status.dispatch.required,
  };
  // The receipt keeps what delivery validation needs, not the prompts (content stays out of the log).
  const audit = auditInsert(ctx, {
    kind: RECEIPT_KINDS.dispatchPlanned,
    taskId: status.task.id,
    payload: {
      binding_id: status.binding_id,
      actions: actions.map((a) => ({
        role: a.role,
        status: a.status,
        send_ready: a.send_ready,
        reason: a.reason,
        blocker: a.blocker,
        session_id: a.session_id,
        thread_id: a.thread.id,
        thread_title: a.thread.title,
      })),
      dispatcher: status.dispatch,
      summary,
      status_ok: status.ok,
    },
  });
  const result = {
    status,
    dispatcher: status.dispatch,
    actions,
    summary,
    receipt: { event_id: audit.id, event_type: RECEIPT_KINDS.dispatchPlanned, recorded_at: iso(audit.row.createdAt)! },
    event_id: audit.id,
  };
  // The answer is the receipt's, known before it is written: it commits with the receipt, so a
  // retry after a lost answer cites the same receipt instead of planning a second one.
  await batchWithKey(ctx, [audit.stmt], respond ? { body: result, status: respond } : undefined);
  return result;
}
