import { OpenAPIHono } from "@hono/zod-openapi";
import type { AppEnv } from "../lib/env.ts";
import { validationHook } from "../lib/validation.ts";
import { auditRoute, auditTask } from "./audit.ts";
import { replayRoute, replayTask } from "./replay.ts";

/** Audit: everything recorded about a task, by table (audit) and in time order (replay). */
export const auditApp = new OpenAPIHono<AppEnv>({ defaultHook: validationHook })
  .openapi(auditRoute, async (c) => c.json(await auditTask(c.get("ctx"), c.req.valid("param").name, c.req.valid("query")), 200))
  .openapi(replayRoute, async (c) => c.json(await replayTask(c.get("ctx"), c.req.valid("param").name, c.req.valid("query")), 200));
