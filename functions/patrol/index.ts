import { OpenAPIHono } from "@hono/zod-openapi";
import type { AppEnv } from "../lib/env.ts";
import { validationHook } from "../lib/validation.ts";
import { getPatrolConfig, getPatrolConfigRoute, setPatrolConfig, setPatrolConfigRoute } from "./config.ts";
import { ackNotice, ackNoticeRoute, listNotices, listNoticesRoute } from "./notices.ts";
import { listPlugins, listPluginsRoute, runPluginNow, runPluginRoute } from "./plugins.ts";
import { runPatrol, runPatrolRoute } from "./run.ts";
import { listPatrolRuns, listPatrolRunsRoute, showPatrolRun, showPatrolRunRoute } from "./runs.ts";
import { addPending, addPendingRoute, listPending, listPendingRoute } from "./spawns.ts";
import { patrolStatus, patrolStatusRoute } from "./status.ts";

/** Patrol: runs, steps, status, configuration, and the owner's notices. */
export const patrolApp = new OpenAPIHono<AppEnv>({ defaultHook: validationHook })
  .openapi(runPatrolRoute, async (c) => {
    const body = c.req.valid("json") ?? { apply: false };
    return c.json(await runPatrol(c.get("ctx"), { trigger: "api", step: body.step, apply: body.apply }), 201);
  })
  .openapi(listPatrolRunsRoute, async (c) => c.json(await listPatrolRuns(c.get("ctx"), c.req.valid("query")), 200))
  .openapi(showPatrolRunRoute, async (c) => c.json(await showPatrolRun(c.get("ctx"), c.req.valid("param").id), 200))
  .openapi(patrolStatusRoute, async (c) => c.json(await patrolStatus(c.get("ctx")), 200))
  .openapi(getPatrolConfigRoute, async (c) => c.json(await getPatrolConfig(c.get("ctx")), 200))
  .openapi(setPatrolConfigRoute, async (c) => c.json(await setPatrolConfig(c.get("ctx"), c.req.valid("json"), 200), 200))
  .openapi(listNoticesRoute, async (c) => c.json(await listNotices(c.get("ctx"), c.req.valid("query")), 200))
  .openapi(ackNoticeRoute, async (c) => c.json(await ackNotice(c.get("ctx"), c.req.valid("param").id, 200), 200))
  .openapi(addPendingRoute, async (c) => c.json(await addPending(c.get("ctx"), c.req.valid("json")), 201))
  .openapi(listPendingRoute, async (c) => c.json(await listPending(c.get("ctx"), c.req.valid("query")), 200))
  .openapi(listPluginsRoute, async (c) => c.json(await listPlugins(c.get("ctx")), 200))
  .openapi(runPluginRoute, async (c) => c.json(await runPluginNow(c.get("ctx"), c.req.valid("param").name), 200));
