import { OpenAPIHono } from "@hono/zod-openapi";
import type { AppEnv } from "../lib/env.ts";
import { validationHook } from "../lib/validation.ts";
import { jobsRoute, listJobs } from "./jobs.ts";
import { jobEventsRoute, listJobEvents, showJob, showJobRoute } from "./show.ts";
import { orchestratorStatus, statusRoute } from "./status.ts";
import { watchOnce, watchRoute } from "./watch.ts";

/** Orchestrator: status, jobs, show (and a job's events), one watch pass. */
export const orchestratorApp = new OpenAPIHono<AppEnv>({ defaultHook: validationHook })
  .openapi(statusRoute, async (c) => c.json(await orchestratorStatus(c.get("ctx")), 200))
  .openapi(jobsRoute, async (c) => c.json(await listJobs(c.get("ctx"), c.req.valid("query")), 200))
  .openapi(showJobRoute, async (c) => c.json(await showJob(c.get("ctx"), c.req.valid("param").id), 200))
  .openapi(jobEventsRoute, async (c) => c.json(await listJobEvents(c.get("ctx"), c.req.valid("param").id, c.req.valid("query")), 200))
  .openapi(watchRoute, async (c) => c.json(await watchOnce(c.get("ctx"), c.req.valid("json")), 200));
