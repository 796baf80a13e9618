import { and, eq } from "drizzle-orm";
import { brokerEvents, brokerRuns } from "../../../schema/broker.ts";
import type { Ctx } from "../../lib/ctx.ts";
import { withWriteTransaction } from "../../lib/db.ts";
import { ApiError } from "../../lib/errors.ts";
import { defineRoute, jsonResponse } from "../../lib/route.ts";
import { iso } from "../../lib/sql.ts";
import { brokerEventValues } from "../wire.ts";
import { RUN_EVENT } from "./lifecycle.ts";
import { RunIdParam, RunResult } from "./schema.ts";
import { runById, runToWire } from "./wire.ts";

export const startRunRoute = defineRoute(["owner"], {
  method: "post",
  path: "/broker/runs/{id}/start",
  tags: ["broker runs"],
  summary: "Start a created run (owner only)",
  description: "From here ticks may process the run, under its lease and within its limits. Runtime and idle time count from now. CLI: broker run-start RUN.",
  request: { params: RunIdParam },
  responses: { 200: jsonResponse(RunResult, "Started") },
});

/** Starts a run that was created and not yet started; runtime and idle clocks begin now. */
export async function startRun(ctx: Ctx, id: string) {
  const run = await runById(ctx, id);
  const nowMs = ctx.now().getTime();
  if (run.state !== "created") {
    throw new ApiError("CONFLICT", `run '${id}' is ${run.state}; only a created run can be started`, {
      hint:
        run.state === "stopped"
          ? `It stopped (${run.stopReason}); create a new run with \`switchyard broker run-create\`.`
          : `It is already running; see \`switchyard broker run-status ${id}\`.`,
    });
  }
  if (run.expiresAt !== null && run.expiresAt <= nowMs) {
    throw new ApiError("CONFLICT", `run '${id}' expired at ${iso(run.expiresAt)}`, { hint: "Create a new run with a later --expires-at." });
  }
  const result = await withWriteTransaction(ctx.db, async (tx) => {
    const [row] = await tx
      .update(brokerRuns)
      .set({ state: "running", startedAt: nowMs, lastActivityAt: nowMs, updatedAt: nowMs })
      .where(and(eq(brokerRuns.id, id), eq(brokerRuns.state, "created")))
      .returning();
    if (!row) return null;
    const [e] = await tx
      .insert(brokerEvents)
      .values(brokerEventValues(ctx, { kind: RUN_EVENT.started, runId: id, payload: { by: ctx.auth.kind } }))
      .returning({ id: brokerEvents.id });
    return { row, eventId: e!.id };
  });
  if (!result) throw new ApiError("CONFLICT", `run '${id}' changed state while starting`, { hint: `See \`switchyard broker run-status ${id}\`.` });
  return { run: runToWire(result.row, nowMs), run_id: id, event_id: result.eventId };
}
