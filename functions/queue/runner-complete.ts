import type { z } from "@hono/zod-openapi";
import { commandToWire, finishCommand } from "./store.ts";
import type { Ctx } from "../lib/ctx.ts";
import { ApiError } from "../lib/errors.ts";
import { defineRoute, jsonBody, jsonResponse } from "../lib/route.ts";
import { runnerAttempt } from "./runner-scope.ts";
import { settleSucceeded, type SettleTable } from "./run.ts";
import { CommandIdParam, RunnerCompleteBody, RunnerCompleteResult } from "./schema.ts";

export const runnerCompleteRoute = defineRoute(["runner"], {
  method: "post",
  path: "/runner/commands/{id}/complete",
  tags: ["runner"],
  summary: "Report an attempt's outcome under its fencing generation",
  description:
    "A stale generation (the lease expired and the command was reclaimed or declared ambiguous) is refused with 409 and changes nothing but the attempt's own record. A failure is retried with backoff until max_attempts, then the command is dead; invalid_payload makes it dead at once.",
  request: { params: CommandIdParam, body: jsonBody(RunnerCompleteBody) },
  responses: { 200: jsonResponse(RunnerCompleteResult, "Recorded") },
});

/**
 * Records a runner's attempt outcome with queue semantics (retry, backoff, dead letters); a
 * success is then settled like a dispatcher's (a stop marks its session gone).
 */
export async function runnerComplete(ctx: Ctx, commandId: string, input: z.output<typeof RunnerCompleteBody>, settle?: SettleTable) {
  const { attempt, command } = await runnerAttempt(ctx, input.attempt_id);
  if (attempt.commandId !== commandId || attempt.claimGeneration !== input.generation) {
    throw new ApiError("VALIDATION_FAILED", `attempt ${input.attempt_id} is generation ${attempt.claimGeneration} of command ${attempt.commandId}`, {
      hint: "Report the command id and generation that POST /v1/runner/claim returned with this attempt.",
      fields: [{ field: "generation", message: "does not match the attempt" }],
    });
  }
  const outcome = input.ok
    ? { ok: true as const, result: input.result ?? {} }
    : {
        ok: false as const,
        error: input.error ?? "runner reported failure",
        result: input.result,
        sideEffectCompleted: input.side_effect_completed,
        permanent: input.invalid_payload,
      };
  const done = await finishCommand(ctx, { command, generation: attempt.claimGeneration, attemptId: attempt.id }, outcome, { queue: {} });
  await settleSucceeded(ctx, done, settle);
  return { command_id: done.id, command: commandToWire(done) };
}
