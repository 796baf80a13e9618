import type { z } from "@hono/zod-openapi";
import type { Ctx } from "../../lib/ctx.ts";
import { ApiError } from "../../lib/errors.ts";
import { defineRoute, jsonBody, jsonResponse } from "../../lib/route.ts";
import { stopRun } from "./lifecycle.ts";
import { RunIdParam, RunResult, StopRunBody } from "./schema.ts";
import { runById, runToWire } from "./wire.ts";

export const stopRunRoute = defineRoute(["owner"], {
  method: "post",
  path: "/broker/runs/{id}/stop",
  tags: ["broker runs"],
  summary: "Owner kill switch: stop a run now",
  description:
    "Stops a created or running run with reason owner_kill_switch and releases its lease; the next tick of any daemon sees it stopped and does nothing. CLI: broker run-stop RUN --reason TEXT.",
  request: { params: RunIdParam, body: jsonBody(StopRunBody) },
  responses: { 200: jsonResponse(RunResult, "Stopped") },
});

/** Flips the owner's kill switch on a run. */
export async function killRun(ctx: Ctx, id: string, input: z.infer<typeof StopRunBody>) {
  const run = await runById(ctx, id);
  const stopped = await stopRun(ctx, id, "owner_kill_switch", input.reason, { from: ["created", "running"] });
  if (!stopped) {
    throw new ApiError("CONFLICT", `run '${id}' is already stopped (${run.stopReason ?? "unknown reason"})`, {
      hint: `See \`switchyard broker run-digest ${id}\`.`,
    });
  }
  return { run: runToWire(stopped.row, ctx.now().getTime()), run_id: id, event_id: stopped.eventId };
}
