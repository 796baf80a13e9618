import type { z } from "@hono/zod-openapi";
import { asc, eq } from "drizzle-orm";
import { adviceRequests, brokerEvents, orchestratorJobs } from "../../schema/broker.ts";
import { adviceToWire, brokerEventToWire } from "../broker/wire.ts";
import type { Ctx } from "../lib/ctx.ts";
import { notFound } from "../lib/errors.ts";
import { defineRoute, jsonResponse } from "../lib/route.ts";
import { JobDetail, JobIdParam } from "./schema.ts";
import { jobToWire } from "./wire.ts";

export const showJobRoute = defineRoute(["owner", "daemon"], {
  method: "get",
  path: "/orchestrator/jobs/{id}",
  tags: ["orchestrator"],
  summary: "One job with its advice request and its broker events",
  description: "CLI: orchestrator show JOB.",
  request: { params: JobIdParam },
  responses: { 200: jsonResponse(JobDetail, "Job") },
});

/** A job, its advice request and every broker event of the job, in order. */
export async function showJob(ctx: Ctx, id: string): Promise<z.infer<typeof JobDetail>> {
  const [job] = await ctx.db.select().from(orchestratorJobs).where(eq(orchestratorJobs.id, id)).limit(1);
  if (!job) throw notFound("job", id, "List jobs with `switchyard orchestrator jobs`.");
  const [advice] = await ctx.db.select().from(adviceRequests).where(eq(adviceRequests.id, job.adviceId)).limit(1);
  const events = await ctx.db.select().from(brokerEvents).where(eq(brokerEvents.jobId, id)).orderBy(asc(brokerEvents.id));
  return { job: jobToWire(job), advice: adviceToWire(advice!, job), events: events.map(brokerEventToWire) };
}
