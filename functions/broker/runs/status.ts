import { and, desc, eq } from "drizzle-orm";
import type { z } from "@hono/zod-openapi";
import { brokerRunEventCounts, brokerRuns } from "../../../schema/broker.ts";
import type { Ctx } from "../../lib/ctx.ts";
import { decodeCursor, keysetAfter, pageOf } from "../../lib/paging.ts";
import { defineRoute, jsonResponse } from "../../lib/route.ts";
import { RUN_EVENT } from "./lifecycle.ts";
import { RunIdParam, RunList, RunListQuery, RunStatus } from "./schema.ts";
import { runById, runToWire } from "./wire.ts";

export const runStatusRoute = defineRoute(["owner", "daemon"], {
  method: "get",
  path: "/broker/runs/{id}",
  tags: ["broker runs"],
  summary: "A run's contract and execution state",
  description:
    "Mode, expiry, approval policy, limits, stop conditions, validation schema, counters, lease owner and expiry, event count and how often each stop condition was met. The event count and condition totals are kept as events are written, so the read costs the same however long the run has ticked. CLI: broker run-status RUN.",
  request: { params: RunIdParam },
  responses: { 200: jsonResponse(RunStatus, "Run") },
});

export const listRunsRoute = defineRoute(["owner", "daemon"], {
  method: "get",
  path: "/broker/runs",
  tags: ["broker runs"],
  summary: "List broker runs, newest first",
  description: "CLI: broker runs [--state created|running|stopped|all] [--limit N] [--cursor C].",
  request: { query: RunListQuery },
  responses: { 200: jsonResponse(RunList, "Runs") },
});

/**
 * How many of a run's events there are of `kind` (all of them for kind ''), from the counts the
 * broker_events triggers keep (migration 0023): one key lookup, however long the run has ticked.
 */
export async function runEventCount(ctx: Ctx, runId: string, kind: string, subject = ""): Promise<number> {
  const [row] = await ctx.db
    .select({ n: brokerRunEventCounts.n })
    .from(brokerRunEventCounts)
    .where(and(eq(brokerRunEventCounts.runId, runId), eq(brokerRunEventCounts.kind, kind), eq(brokerRunEventCounts.subject, subject)));
  return row?.n ?? 0;
}

/** How often each stop condition was met in a run, stopping it or not (one kept row per condition). */
async function conditionTotals(ctx: Ctx, runId: string): Promise<Record<string, number>> {
  const rows = await ctx.db
    .select({ condition: brokerRunEventCounts.subject, n: brokerRunEventCounts.n })
    .from(brokerRunEventCounts)
    .where(and(eq(brokerRunEventCounts.runId, runId), eq(brokerRunEventCounts.kind, RUN_EVENT.conditionMet)));
  return Object.fromEntries(rows.filter((r) => r.n > 0).map((r) => [r.condition, r.n]));
}

/** The run contract, its counters and lease, the event count and the stop-condition totals. */
export async function runStatus(ctx: Ctx, id: string) {
  const run = await runById(ctx, id);
  return { run: runToWire(run, ctx.now().getTime()), event_count: await runEventCount(ctx, id, ""), stop_condition_totals: await conditionTotals(ctx, id) };
}

/** Lists runs, newest first. */
export async function listRuns(ctx: Ctx, q: z.infer<typeof RunListQuery>) {
  const page = pageOf(
    await ctx.db
      .select()
      .from(brokerRuns)
      .where(
        and(
          q.state === "all" ? undefined : eq(brokerRuns.state, q.state),
          keysetAfter([brokerRuns.createdAt, brokerRuns.id], decodeCursor(q.cursor, 2, "broker/runs/status"), "desc"),
        ),
      )
      .orderBy(desc(brokerRuns.createdAt), desc(brokerRuns.id))
      .limit(q.limit + 1),
    q.limit,
    (r) => [r.createdAt, r.id],
    "broker/runs/status",
  );
  const nowMs = ctx.now().getTime();
  return { runs: page.items.map((r) => runToWire(r, nowMs)), count: page.items.length, next_cursor: page.next_cursor };
}
