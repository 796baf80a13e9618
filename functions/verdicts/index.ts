import { OpenAPIHono } from "@hono/zod-openapi";
import type { AppEnv } from "../lib/env.ts";
import { validationHook } from "../lib/validation.ts";
import { harvest, harvestRoute } from "./harvest.ts";
import { dispatchStatus, dispatchStatusRoute } from "./status.ts";

/** Dispatch verdicts from evidence, and harvesting an orphaned worktree. */
export const verdictsApp = new OpenAPIHono<AppEnv>({ defaultHook: validationHook })
  .openapi(dispatchStatusRoute, async (c) => c.json(await dispatchStatus(c.get("ctx"), c.req.valid("param").target, c.req.valid("query")), 200))
  .openapi(harvestRoute, async (c) => c.json(await harvest(c.get("ctx"), c.req.valid("param").target, c.req.valid("json")), 200));
