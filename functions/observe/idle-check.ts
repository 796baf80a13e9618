import type { z } from "@hono/zod-openapi";
import type { Ctx } from "../lib/ctx.ts";
import { defineRoute, jsonResponse } from "../lib/route.ts";
import { activeSessionByName } from "../sessions/lookup.ts";
import { NameParam } from "../sessions/schema.ts";
import { ingestSession } from "./ingest.ts";
import { IdleCheckQuery, IdleCheckResult } from "./schema.ts";
import { eventState, sessionAlive } from "./status.ts";
import { assertMayObserve } from "./tail.ts";

export const idleCheckRoute = defineRoute(["owner", "daemon", "session"], {
  method: "get",
  path: "/sessions/{name}/idle-check",
  tags: ["observe"],
  summary: "Classify a session's freshness and recommend an action",
  description: "Ingests first (ingest=false to skip). Recommendations: wait, review, nudge, inspect, restart. CLI: idle-check NAME.",
  request: { params: NameParam, query: IdleCheckQuery },
  responses: { 200: jsonResponse(IdleCheckResult, "Assessment") },
});

/** Assesses whether a session is working, finished, idle, stuck or dead. */
export async function idleCheck(ctx: Ctx, name: string, q: z.output<typeof IdleCheckQuery>) {
  const s = await activeSessionByName(ctx, name);
  await assertMayObserve(ctx, s);
  if (q.ingest && s.transcriptPath) await ingestSession(ctx, s);
  const st = await eventState(ctx, s.id);
  const alive = await sessionAlive(ctx, s);
  const fresh = st.staleness_seconds !== null && st.staleness_seconds < q.busy_wait_seconds;
  let recommendation: z.infer<typeof IdleCheckResult>["recommendation"];
  let reason: string;
  if (alive === false && s.pid !== null) {
    recommendation = "restart";
    reason = `pid ${s.pid} is not running`;
  } else if (st.state === "busy") {
    recommendation = fresh ? "wait" : "inspect";
    reason = fresh ? "working; last state change is recent" : `busy for ${st.staleness_seconds}s without finishing; check the pane`;
  } else if (st.state === "idle") {
    recommendation = st.task_completed ? "review" : "nudge";
    reason = st.task_completed ? "the last turn completed; review the result" : "idle after an aborted turn";
  } else {
    recommendation = "inspect";
    reason = "no state-changing events yet; the agent may be waiting for its first prompt";
  }
  return {
    session: s.name,
    state: st.state,
    last_state_event_at: st.last_state_event_at,
    staleness_seconds: st.staleness_seconds,
    last_event_subtype: st.last_event_subtype,
    task_completed: st.task_completed,
    alive,
    fresh,
    recommendation,
    reason,
  };
}
