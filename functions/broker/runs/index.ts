import { OpenAPIHono } from "@hono/zod-openapi";
import type { AppEnv } from "../../lib/env.ts";
import { validationHook } from "../../lib/validation.ts";
import { createRun, createRunRoute } from "./create.ts";
import { runDigest, runDigestRoute } from "./digest.ts";
import { runEvents, runEventsRoute } from "./events.ts";
import { releaseLeaseRoute, releaseRunLease } from "./lease.ts";
import { startRun, startRunRoute } from "./start.ts";
import { listRuns, listRunsRoute, runStatus, runStatusRoute } from "./status.ts";
import { killRun, stopRunRoute } from "./stop.ts";

/** Broker run contracts: create, start, status, events, digest, the owner's kill switch, lease release. */
export const brokerRunsApp = new OpenAPIHono<AppEnv>({ defaultHook: validationHook })
  .openapi(createRunRoute, async (c) => c.json(await createRun(c.get("ctx"), c.req.valid("json")), 201))
  .openapi(listRunsRoute, async (c) => c.json(await listRuns(c.get("ctx"), c.req.valid("query")), 200))
  .openapi(runStatusRoute, async (c) => c.json(await runStatus(c.get("ctx"), c.req.valid("param").id), 200))
  .openapi(startRunRoute, async (c) => c.json(await startRun(c.get("ctx"), c.req.valid("param").id), 200))
  .openapi(stopRunRoute, async (c) => c.json(await killRun(c.get("ctx"), c.req.valid("param").id, c.req.valid("json")), 200))
  .openapi(runEventsRoute, async (c) => c.json(await runEvents(c.get("ctx"), c.req.valid("param").id, c.req.valid("query")), 200))
  .openapi(runDigestRoute, async (c) => c.json(await runDigest(c.get("ctx"), c.req.valid("param").id), 200))
  .openapi(releaseLeaseRoute, async (c) => c.json(await releaseRunLease(c.get("ctx"), c.req.valid("param").id, c.req.valid("json")), 200));
