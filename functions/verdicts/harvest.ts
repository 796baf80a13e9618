import type { z } from "@hono/zod-openapi";
import { releaseClaimsOf } from "../coordination/claims.ts";
import { auditInsert } from "../lib/audit.ts";
import type { Ctx } from "../lib/ctx.ts";
import { ApiError } from "../lib/errors.ts";
import { canReach, hostErrorToApi } from "../lib/local.ts";
import { defineRoute, jsonBody, jsonResponse } from "../lib/route.ts";
import { judge, resolveTarget } from "./evidence.ts";
import { HarvestBody, HarvestResult, TargetParam } from "./schema.ts";

export const harvestRoute = defineRoute(
  ["owner"],
  {
    method: "post",
    path: "/harvest/{target}",
    tags: ["verdicts"],
    summary: "Recover a dead worker's uncommitted work: commit it on its branch with a marker and release its claims",
    description:
      "Only for a verdict of worker-process-gone (so never a live or delivered worker). Commits tracked changes and new unignored files on the current branch, marked 'switchyard harvest'; never deletes, resets or pushes anything. CLI: harvest TARGET --orphaned.",
    request: { params: TargetParam, body: jsonBody(HarvestBody) },
    responses: { 200: jsonResponse(HarvestResult, "Harvested") },
  },
  { rateLimited: true, deadline: "own" },
);

/** Harvests an orphaned worktree after re-checking the evidence. */
export async function harvest(ctx: Ctx, target: string, input: z.output<typeof HarvestBody>) {
  const r = await resolveTarget(ctx, target);
  if (!r) throw new ApiError("NOT_FOUND", `'${target}' names no bound task and no session`, { hint: "Check the name with switchyard dispatch-status TARGET." });
  const w = r.worker;
  if (!w.cwd)
    throw new ApiError("CONFLICT", `worker '${w.name}' has no recorded cwd, so there is no worktree to harvest`, { hint: "Recover it by hand on its host." });
  if (!ctx.host || !canReach(ctx, w.host)) {
    throw new ApiError("HOST_UNAVAILABLE", `worker '${w.name}' lives on host ${w.host}; harvest there`, {
      hint: `Run switchyard harvest ${target} --orphaned on ${w.host}.`,
    });
  }
  const v = await judge(ctx, r, input.base);
  if (v.state !== "worker-process-gone") {
    throw new ApiError("CONFLICT", `refusing to harvest '${target}': its verdict is ${v.state}, not worker-process-gone`, {
      hint: `${v.next_action} (evidence: ${v.reasons.join("; ")})`,
    });
  }
  const git = v.evidence.git as { repo?: boolean; branch?: string | null; error?: string } | null;
  if (git?.repo !== true) {
    throw new ApiError(
      "CONFLICT",
      `refusing to harvest '${target}': git cannot read ${w.cwd} (not a worktree, missing, or damaged)${git?.error ? `: ${git.error}` : ""}`,
      {
        hint: "Harvest commits the worker's uncommitted work with git. Inspect the directory by hand and keep what the worker left before re-dispatching.",
      },
    );
  }
  const message = [
    `switchyard harvest: recover uncommitted work of ${w.name}${r.task ? ` (task ${r.task.name})` : ""}`,
    "",
    "The worker's process was gone and its worktree idle; its uncommitted changes were committed",
    "as they were found, on its own branch, for review. Nothing was deleted or reset.",
    "",
    "Switchyard-Harvest: orphaned",
    `Switchyard-Session: ${w.id}`,
    ...(r.task ? [`Switchyard-Task: ${r.task.name}`] : []),
  ].join("\n");
  let commit;
  try {
    commit = await ctx.host.gitCommitAll(w.cwd, message, { name: "Switchyard harvest", email: "harvest@switchyard.invalid" });
  } catch (e) {
    throw hostErrorToApi(e);
  }
  const released = await releaseClaimsOf(ctx, w.id, "harvested");
  const audit = auditInsert(ctx, {
    kind: "worktree_harvested",
    taskId: r.task?.id ?? null,
    sessionId: w.id,
    payload: { cwd: w.cwd, committed: commit.committed, sha: commit.sha, files: commit.files.length, claims_released: released.length },
  });
  await audit.stmt;
  return {
    target,
    worker: w.name,
    cwd: w.cwd,
    branch: git?.branch ?? null,
    committed: commit.committed,
    sha: commit.sha,
    files: commit.files,
    claims_released: released,
    event_id: audit.id,
  };
}
