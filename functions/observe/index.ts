import { OpenAPIHono } from "@hono/zod-openapi";
import type { AppEnv } from "../lib/env.ts";
import { validationHook } from "../lib/validation.ts";
import { classifyRoute, classifyText } from "./classify-route.ts";
import { cycleRoute, cycleTask } from "./cycle.ts";
import { divergences, divergencesRoute } from "./divergences.ts";
import { idleCheck, idleCheckRoute } from "./idle-check.ts";
import { ingestByName, ingestRoute } from "./ingest-route.ts";
import { tailRoute, tailSession } from "./tail.ts";

/** Observation: ingest, cycle, tail, divergences, idle-check, classify. */
export const observeApp = new OpenAPIHono<AppEnv>({ defaultHook: validationHook })
  .openapi(ingestRoute, async (c) => c.json(await ingestByName(c.get("ctx"), c.req.valid("param").name), 200))
  .openapi(cycleRoute, async (c) => c.json(await cycleTask(c.get("ctx"), c.req.valid("param").name, c.req.valid("json")), 200))
  .openapi(tailRoute, async (c) => c.json(await tailSession(c.get("ctx"), c.req.valid("param").name, c.req.valid("query")), 200))
  .openapi(divergencesRoute, async (c) => c.json(await divergences(c.get("ctx"), c.req.valid("param").name, c.req.valid("query")), 200))
  .openapi(idleCheckRoute, async (c) => c.json(await idleCheck(c.get("ctx"), c.req.valid("param").name, c.req.valid("query")), 200))
  .openapi(classifyRoute, async (c) => c.json(classifyText(c.req.valid("json")), 200));
