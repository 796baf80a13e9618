import type { z } from "@hono/zod-openapi";
import { eq } from "drizzle-orm";
import { adviceRequests, orchestratorJobs } from "../../schema/broker.ts";
import { brokerEventsPage, newestBrokerEvents } from "../broker/events-page.ts";
import { EventsPageQuery } from "../broker/schema.ts";
import { adviceToWire, brokerEventToWire } from "../broker/wire.ts";
import type { Ctx } from "../lib/ctx.ts";
import { notFound } from "../lib/errors.ts";
import { SHOW_EMBED_LIMIT } from "../lib/paging.ts";
import { defineRoute, jsonResponse } from "../lib/route.ts";
import { JobDetail, JobEvents, JobIdParam } from "./schema.ts";
import { jobToWire } from "./wire.ts";

export const showJobRoute = defineRoute(["owner", "daemon"], {
  method: "get",
  path: "/orchestrator/jobs/{id}",
  tags: ["orchestrator"],
  summary: "One job with its advice request and its newest broker events",
  description: `events holds the newest ${SHOW_EMBED_LIMIT} events, oldest first; events_total counts them all, and GET /orchestrator/jobs/{id}/events pages through every one. CLI: orchestrator show JOB.`,
  request: { params: JobIdParam },
  responses: { 200: jsonResponse(JobDetail, "Job") },
});

export const jobEventsRoute = defineRoute(["owner", "daemon"], {
  method: "get",
  path: "/orchestrator/jobs/{id}/events",
  tags: ["orchestrator"],
  summary: "A job's broker events, oldest first, a page at a time",
  description:
    "Keyed on the event id, so events recorded during a walk land on a later page; a cursor of another job's list is refused. CLI: orchestrator events JOB [--limit N] [--cursor C].",
  request: { params: JobIdParam, query: EventsPageQuery },
  responses: { 200: jsonResponse(JobEvents, "Events") },
});

async function jobById(ctx: Ctx, id: string) {
  const [job] = await ctx.db.select().from(orchestratorJobs).where(eq(orchestratorJobs.id, id)).limit(1);
  if (!job) throw notFound("job", id, "List jobs with `switchyard orchestrator jobs`.");
  return job;
}

/** A job, its advice request and the job's newest broker events, in order. */
export async function showJob(ctx: Ctx, id: string): Promise<z.infer<typeof JobDetail>> {
  const job = await jobById(ctx, id);
  const [advice] = await ctx.db.select().from(adviceRequests).where(eq(adviceRequests.id, job.adviceId)).limit(1);
  const { events, total } = await newestBrokerEvents(ctx, "job", id);
  return { job: jobToWire(job), advice: adviceToWire(advice!, job), events: events.map(brokerEventToWire), events_total: total };
}

/** Lists a job's broker events in the order they happened, a page at a time. */
export async function listJobEvents(ctx: Ctx, id: string, q: z.output<typeof EventsPageQuery>): Promise<z.infer<typeof JobEvents>> {
  await jobById(ctx, id);
  const page = await brokerEventsPage(ctx, "job", id, q);
  return { job_id: id, events: page.items.map(brokerEventToWire), count: page.items.length, next_cursor: page.next_cursor };
}
