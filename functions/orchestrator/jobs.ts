import type { z } from "@hono/zod-openapi";
import { and, asc, eq } from "drizzle-orm";
import { orchestratorJobs } from "../../schema/broker.ts";
import type { Ctx } from "../lib/ctx.ts";
import { decodeCursor, keysetAfter, pageOf } from "../lib/paging.ts";
import { defineRoute, jsonResponse } from "../lib/route.ts";
import { JobList, JobsQuery } from "./schema.ts";
import { jobToWire } from "./wire.ts";

export const jobsRoute = defineRoute(["owner", "daemon"], {
  method: "get",
  path: "/orchestrator/jobs",
  tags: ["orchestrator"],
  summary: "List orchestrator jobs, oldest first, optionally by state",
  description: "CLI: orchestrator jobs [--status queued|running|draft_ready|owner_input_required|failed].",
  request: { query: JobsQuery },
  responses: { 200: jsonResponse(JobList, "Jobs") },
});

/** Lists jobs in creation order. */
export async function listJobs(ctx: Ctx, q: z.output<typeof JobsQuery>): Promise<z.infer<typeof JobList>> {
  const page = pageOf(
    await ctx.db
      .select()
      .from(orchestratorJobs)
      .where(
        and(
          q.status === "all" ? undefined : eq(orchestratorJobs.state, q.status),
          keysetAfter([orchestratorJobs.createdAt, orchestratorJobs.id], decodeCursor(q.cursor, 2, "orchestrator/jobs")),
        ),
      )
      .orderBy(asc(orchestratorJobs.createdAt), asc(orchestratorJobs.id))
      .limit(q.limit + 1),
    q.limit,
    (r) => [r.createdAt, r.id],
    "orchestrator/jobs",
  );
  return { jobs: page.items.map(jobToWire), count: page.items.length, next_cursor: page.next_cursor };
}
