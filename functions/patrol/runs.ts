import type { z } from "@hono/zod-openapi";
import { asc, desc, eq } from "drizzle-orm";
import { patrolRuns, patrolSteps } from "../../schema/patrol.ts";
import type { Ctx } from "../lib/ctx.ts";
import { notFound } from "../lib/errors.ts";
import { decodeCursor, keysetAfter, pageOf } from "../lib/paging.ts";
import { defineRoute, jsonResponse } from "../lib/route.ts";
import { PatrolRunDetail, PatrolRunList, PatrolRunListQuery, RunIdParam } from "./schema.ts";
import { patrolRunToWire, runToWire } from "./wire.ts";

export const listPatrolRunsRoute = defineRoute(["owner", "daemon"], {
  method: "get",
  path: "/patrol/runs",
  tags: ["patrol"],
  summary: "List patrol runs, newest first",
  description: "CLI: patrol runs [--limit N] [--cursor C].",
  request: { query: PatrolRunListQuery },
  responses: { 200: jsonResponse(PatrolRunList, "Runs") },
});

export const showPatrolRunRoute = defineRoute(["owner", "daemon"], {
  method: "get",
  path: "/patrol/runs/{id}",
  tags: ["patrol"],
  summary: "Show one patrol run with every step result",
  description: "CLI: patrol show RUN.",
  request: { params: RunIdParam },
  responses: { 200: jsonResponse(PatrolRunDetail, "Run") },
});

/** Lists runs newest first, a page at a time (keyset on started_at, id). */
export async function listPatrolRuns(ctx: Ctx, q: z.output<typeof PatrolRunListQuery>) {
  const after = decodeCursor(q.cursor, 2, "patrol/runs");
  const rows = await ctx.db
    .select()
    .from(patrolRuns)
    .where(keysetAfter([patrolRuns.startedAt, patrolRuns.id], after, "desc"))
    .orderBy(desc(patrolRuns.startedAt), desc(patrolRuns.id))
    .limit(q.limit + 1);
  const page = pageOf(rows, q.limit, (r) => [r.startedAt, r.id], "patrol/runs");
  return { runs: page.items.map(patrolRunToWire), count: page.items.length, next_cursor: page.next_cursor };
}

/** One run and its steps in DAG order. */
export async function showPatrolRun(ctx: Ctx, id: string) {
  const [run] = await ctx.db.select().from(patrolRuns).where(eq(patrolRuns.id, id)).limit(1);
  if (!run) throw notFound("patrol run", id, "List runs with: switchyard patrol runs");
  const steps = await ctx.db.select().from(patrolSteps).where(eq(patrolSteps.runId, id)).orderBy(asc(patrolSteps.ordinal));
  return runToWire(run, steps);
}
