import { OpenAPIHono } from "@hono/zod-openapi";
import type { AppEnv } from "../lib/env.ts";
import { validationHook } from "../lib/validation.ts";
import { listCrons, listCronsRoute } from "./list.ts";
import { runCronNow, runCronRoute } from "./run.ts";

/** Crons: list and run-once. */
export const cronsApp = new OpenAPIHono<AppEnv>({ defaultHook: validationHook })
  .openapi(runCronRoute, async (c) => c.json(await runCronNow(c.get("ctx"), c.req.valid("param").name), 200))
  .openapi(listCronsRoute, async (c) => c.json(await listCrons(c.get("ctx")), 200));
