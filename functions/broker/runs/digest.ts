import { and, asc, desc, eq, gt, inArray } from "drizzle-orm";
import { adviceRequests, brokerEvents, brokerRunAdviceStates, type AdviceRequestRow } from "../../../schema/broker.ts";
import type { Ctx } from "../../lib/ctx.ts";
import { defineRoute, jsonResponse } from "../../lib/route.ts";
import { eqLiteral, iso } from "../../lib/sql.ts";
import { RUN_EVENT } from "./lifecycle.ts";
import { RunDigest, RunIdParam } from "./schema.ts";
import { runEventCount, runStatus } from "./status.ts";

export const runDigestRoute = defineRoute(["owner", "daemon"], {
  method: "get",
  path: "/broker/runs/{id}/digest",
  tags: ["broker runs"],
  summary: "What a run did: requests, drafts, what waits for approval, errors, why it stopped",
  description: "The morning-after view of a run. CLI: broker run-digest RUN.",
  request: { params: RunIdParam },
  responses: { 200: jsonResponse(RunDigest, "Digest") },
});

/** Most errors listed in a digest; the counters carry the totals. */
const MAX_LISTED_ERRORS = 50;
/** Most requests listed per waiting state; `requests.by_state` carries the totals. */
const MAX_LISTED_WAITING = 50;

const item = (a: AdviceRequestRow) => ({
  advice_id: a.id,
  state: a.state,
  thread_id: a.threadId,
  requester_session_id: a.requesterSessionId,
  updated_at: iso(a.updatedAt)!,
});

/** Summarises a run for the owner. */
export async function runDigest(ctx: Ctx, id: string) {
  const { run, stop_condition_totals } = await runStatus(ctx, id);
  // Counts kept by triggers and the oldest waiting requests off a partial index: a long run's
  // requests are never all loaded.
  const counted = await ctx.db
    .select({ state: brokerRunAdviceStates.state, n: brokerRunAdviceStates.n })
    .from(brokerRunAdviceStates)
    .where(and(eq(brokerRunAdviceStates.runId, id), gt(brokerRunAdviceStates.n, 0)));
  const byState: Record<string, number> = Object.fromEntries(counted.map((r) => [r.state, r.n]));
  const total = counted.reduce((sum, r) => sum + r.n, 0);
  const oldestIn = (state: "draft_ready" | "owner_input_required") =>
    ctx.db
      .select()
      .from(adviceRequests)
      .where(and(eq(adviceRequests.runId, id), eqLiteral(adviceRequests.state, state)))
      .orderBy(asc(adviceRequests.createdAt), asc(adviceRequests.id))
      .limit(MAX_LISTED_WAITING);
  const waiting = await oldestIn("draft_ready");
  const ownerInput = await oldestIn("owner_input_required");
  const ticks = await runEventCount(ctx, id, RUN_EVENT.tick);
  const errorRows = await ctx.db
    .select()
    .from(brokerEvents)
    .where(and(eq(brokerEvents.runId, id), eq(brokerEvents.kind, RUN_EVENT.error)))
    .orderBy(desc(brokerEvents.id))
    .limit(MAX_LISTED_ERRORS);
  const [stopEvent] = await ctx.db
    .select()
    .from(brokerEvents)
    .where(and(eq(brokerEvents.runId, id), inArray(brokerEvents.kind, [RUN_EVENT.stopped])))
    .orderBy(desc(brokerEvents.id))
    .limit(1);
  const c = run.counters;
  const stopDetail = typeof stopEvent?.payload.detail === "string" ? stopEvent.payload.detail : null;
  const ending =
    run.state === "stopped" ? `stopped: ${run.stop_reason}${stopDetail ? ` (${stopDetail})` : ""}` : run.state === "running" ? "still running" : "not started";
  return {
    run_id: id,
    mode: run.mode,
    state: run.state,
    objective: run.objective,
    started_at: run.started_at,
    stopped_at: run.stopped_at,
    stop_reason: run.stop_reason,
    stop_detail: stopDetail,
    ticks,
    counters: c,
    requests: { total, by_state: byState },
    waiting_for_approval: waiting.map(item),
    owner_input_required: ownerInput.map(item),
    errors: errorRows.map((e) => ({ at: iso(e.createdAt)!, kind: String(e.payload.step ?? e.kind), message: String(e.payload.message ?? "") })),
    conditions_met: stop_condition_totals,
    summary:
      `${run.mode} run ${id}: ${c.requests_total} request(s), ${c.drafts_total} draft(s) (${byState.draft_ready ?? 0} waiting for approval), ` +
      `${byState.owner_input_required ?? 0} need owner input, ${c.sends_total} sent, ${c.errors_total} error(s); ${ending}.`,
  };
}
