import { finishCommand, markSideEffectStarted } from "./store.ts";
import type { CommandPolicy, Ctx } from "../lib/ctx.ts";
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

/**
 * Marks a runner's attempt started, fenced by its claim generation and lease. The dispatch
 * policy (from the composition root) is put to the command first, as a dispatcher does: a
 * refusal fails the command here, before its side effect, and the runner is told not to run it.
 */
export async function runnerStarted(ctx: Ctx, attemptId: string, policy?: CommandPolicy) {
  const { attempt, command } = await runnerAttempt(ctx, attemptId);
  const refusal = policy ? await policy(ctx, command) : null;
  if (refusal) {
    await finishCommand(
      ctx,
      { command, generation: attempt.claimGeneration, attemptId },
      { ok: false, error: refusal.reason, result: { policy_receipt: refusal.receipt }, refused: true },
      { queue: {} },
    );
    throw new ApiError("CONFLICT", `command ${command.id} was refused before its side effect: ${refusal.reason}`, {
      hint: "Do not run it; the command is failed with the policy's receipt as its result.",
    });
  }
  if (!(await markSideEffectStarted(ctx, { command, generation: attempt.claimGeneration, attemptId }))) {
    throw new ApiError("CONFLICT", `the claim of attempt ${attemptId} is no longer live`, {
      hint: "Its lease expired or a newer claim holds the command; do not run the side effect.",
    });
  }
  return { attempt_id: attemptId, command_id: command.id, started: true as const };
}
