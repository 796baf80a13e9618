import type { z } from "@hono/zod-openapi";
import type { Ctx } from "../lib/ctx.ts";
import { ApiError } from "../lib/errors.ts";
import { defineRoute, jsonResponse } from "../lib/route.ts";
import { exitCodeOf, judge, type Resolved, resolveTarget } from "./evidence.ts";
import { TargetParam, Verdict, VerdictQuery } from "./schema.ts";

export const dispatchStatusRoute = defineRoute(["owner", "daemon", "session"], {
  method: "get",
  path: "/dispatch-status/{target}",
  tags: ["verdicts"],
  summary: "One verdict for a dispatched task or worker: done, running, failed, worker-process-gone or unresolved, with the evidence",
  description:
    "A session may ask about itself or the worker it manages. Evidence, strongest first: the worker's result file (.switchyard-result.json at its worktree root) > git (commits ahead of base, dirty tracked files) > process (pid alive) > administrative status. Fresh file activity vetoes 'process gone'. An unknown target answers state unresolved. CLI: dispatch-status TARGET [--base REF]; dispatch watch TARGET.",
  request: { params: TargetParam, query: VerdictQuery },
  responses: { 200: jsonResponse(Verdict, "Verdict") },
});

/**
 * Whether `sessionId` manages the resolved worker: through the active binding, or through the
 * task's latest binding when nothing took the manager off it: the task's finish (while the task
 * stays finished), the release of a dead worker by the patrol or reconcile, or a stop. A manager
 * watching its dispatch sees the verdict after the finish, and the patrol's notice tells it to
 * look before a harvest. An unbind ends that, and so does a binding made since or a reopen.
 */
function managesNowOrAtFinish(sessionId: string, r: Resolved): boolean {
  const b = r.binding;
  if (!b || b.managerSessionId !== sessionId) return false;
  if (b.state === "active") return true;
  if (b.endReason === "finish") return r.task?.state === "finished";
  return b.endReason === "orphan" || b.endReason === "reconcile" || b.endReason === "stop";
}

/** The verdict for one target. */
export async function dispatchStatus(ctx: Ctx, target: string, q: z.output<typeof VerdictQuery>) {
  const r = await resolveTarget(ctx, target);
  if (!r) {
    return {
      target,
      state: "unresolved" as const,
      exit_code: exitCodeOf("unresolved"),
      decided_by: "none" as const,
      next_action: "No task (with a binding) or session has that name: check the name with switchyard discover.",
      reasons: [`'${target}' names no bound task and no session`],
      resolved: null,
      evidence: { result_file: null, git: null, process: null, activity: null, administrative: {} },
    };
  }
  if (ctx.auth.kind === "session" && ctx.auth.sessionId !== r.worker.id && !managesNowOrAtFinish(ctx.auth.sessionId, r)) {
    throw new ApiError("FORBIDDEN", `a session may judge only itself or the worker it manages, not '${target}'`, {
      hint: "Use the manager's token, or ask the owner.",
    });
  }
  const v = await judge(ctx, r, q.base);
  return {
    target,
    state: v.state,
    exit_code: exitCodeOf(v.state),
    decided_by: v.decided_by,
    next_action: v.next_action,
    reasons: v.reasons,
    resolved: {
      task: r.task?.name ?? null,
      binding_id: r.binding?.id ?? null,
      worker: r.worker.name,
      session_id: r.worker.id,
      cwd: r.worker.cwd,
      host: r.worker.host,
      pid: r.worker.pid,
    },
    evidence: v.evidence,
  };
}
