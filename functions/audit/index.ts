import { OpenAPIHono } from "@hono/zod-openapi";
import type { AppEnv } from "../lib/env.ts";
import { validationHook } from "../lib/validation.ts";
import { auditRoute, auditTask } from "./audit.ts";

/** Audit: the events trail of a task. */
export const auditApp = new OpenAPIHono<AppEnv>({ defaultHook: validationHook }).openapi(auditRoute, async (c) =>
  c.json(await auditTask(c.get("ctx"), c.req.valid("param").name, c.req.valid("query")), 200),
);
