import type { z } from "@hono/zod-openapi";
import { RUNNER_COMMAND_TYPES, sweepAndClaim } from "./claim.ts";
import { commandToWire } from "./store.ts";
import type { Ctx } from "../lib/ctx.ts";
import { defineRoute, jsonBody, jsonResponse } from "../lib/route.ts";
import { runnerHost } from "./runner-scope.ts";
import { RunnerClaimBody, RunnerClaimResult } from "./schema.ts";

export const runnerClaimRoute = defineRoute(["runner"], {
  method: "post",
  path: "/runner/claim",
  tags: ["runner"],
  summary: "Claim due host commands for the runner token's host",
  description:
    "The host comes from the token, never from the request, so a runner can only claim its own machine's commands. Each claim carries the fencing generation and an attempt id; report with /runner/attempts/{id}/started before the side effect and /runner/commands/{id}/complete after. CLI: runner.",
  request: { body: jsonBody(RunnerClaimBody) },
  responses: { 200: jsonResponse(RunnerClaimResult, "Claims (possibly none)") },
});

/**
 * Claims host commands for the calling runner's host. Expired leases are swept first (in the claim's own batch), so a
 * server whose only executors are runners still recovers the claims of a runner that died.
 */
export async function runnerClaim(ctx: Ctx, input: z.output<typeof RunnerClaimBody>) {
  const host = runnerHost(ctx);
  const types = input.types?.length ? input.types : RUNNER_COMMAND_TYPES;
  const { claims } = await sweepAndClaim(ctx, {
    types,
    host,
    dispatcherId: `runner:${host}:${input.runner_id ?? "default"}`,
    leaseMs: input.lease_seconds * 1000,
    limit: input.limit,
  });
  return { host, claims: claims.map((c) => ({ command: commandToWire(c.command), generation: c.generation, attempt_id: c.attemptId })), count: claims.length };
}
