import { markSideEffectStarted } from "./store.ts";
import type { Ctx } from "../lib/ctx.ts";
import { ApiError } from "../lib/errors.ts";
import { defineRoute, jsonResponse } from "../lib/route.ts";
import { runnerAttempt } from "./runner-scope.ts";
import { AttemptIdParam, RunnerStartedResult } from "./schema.ts";

export const runnerStartedRoute = defineRoute(["runner"], {
  method: "post",
  path: "/runner/attempts/{id}/started",
  tags: ["runner"],
  summary: "Record that an attempt's side effect is about to start",
  description:
    "Succeeds only while the claim is live (its generation current and its lease unexpired); 409 means the runner must not perform the side effect. After this, a lease that runs out makes the command ambiguous instead of re-runnable.",
  request: { params: AttemptIdParam },
  responses: { 200: jsonResponse(RunnerStartedResult, "Side effect may start") },
});

/** Marks a runner's attempt started, fenced by its claim generation and lease. */
export async function runnerStarted(ctx: Ctx, attemptId: string) {
  const { attempt, command } = await runnerAttempt(ctx, attemptId);
  if (!(await markSideEffectStarted(ctx, { command, generation: attempt.claimGeneration, attemptId }))) {
    throw new ApiError("CONFLICT", `the claim of attempt ${attemptId} is no longer live`, {
      hint: "Its lease expired or a newer claim holds the command; do not run the side effect.",
    });
  }
  return { attempt_id: attemptId, command_id: command.id, started: true as const };
}
