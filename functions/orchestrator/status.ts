import type { z } from "@hono/zod-openapi";
import { and, count, eq, lte, min } from "drizzle-orm";
import { JOB_STATES, orchestratorJobCounts, orchestratorJobs } from "../../schema/broker.ts";
import type { Ctx } from "../lib/ctx.ts";
import { defineRoute, jsonResponse } from "../lib/route.ts";
import { iso } from "../lib/sql.ts";
import { StatusResult } from "./schema.ts";

export const statusRoute = defineRoute(["owner", "daemon"], {
  method: "get",
  path: "/orchestrator/status",
  tags: ["orchestrator"],
  summary: "Job counts per state, the oldest queued job and crashed (lease-expired) jobs",
  description:
    "Counts and the total are exact and kept as jobs change state (not counted at read time), so the read costs the same however many jobs have finished. CLI: orchestrator status.",
  responses: { 200: jsonResponse(StatusResult, "Orchestrator status") },
});

/** Counts jobs per state and reports work that is waiting or stuck. */
export async function orchestratorStatus(ctx: Ctx): Promise<z.infer<typeof StatusResult>> {
  const nowMs = ctx.now().getTime();
  // One row per state, kept by triggers (migration 0023): counting the jobs themselves read every
  // job that ever finished, on each status read.
  const rows = await ctx.db.select({ state: orchestratorJobCounts.state, n: orchestratorJobCounts.n }).from(orchestratorJobCounts);
  const counts = Object.fromEntries(JOB_STATES.map((s) => [s, 0])) as Record<(typeof JOB_STATES)[number], number>;
  for (const r of rows) counts[r.state] = r.n;
  const [oldest] = await ctx.db
    .select({ at: min(orchestratorJobs.createdAt) })
    .from(orchestratorJobs)
    .where(eq(orchestratorJobs.state, "queued"));
  const [expired] = await ctx.db
    .select({ n: count() })
    .from(orchestratorJobs)
    .where(and(eq(orchestratorJobs.state, "running"), lte(orchestratorJobs.leaseExpiresAt, nowMs)));
  return {
    counts,
    total: rows.reduce((a, r) => a + r.n, 0),
    oldest_queued_at: iso(oldest?.at ?? null),
    expired_leases: expired?.n ?? 0,
  };
}
