import { OpenAPIHono } from "@hono/zod-openapi";
import type { AppEnv } from "../../lib/env.ts";
import { validationHook } from "../../lib/validation.ts";
import { brokerTick, tickRoute } from "./tick.ts";

/** The broker tick: one visible, never-sending cycle, optionally for one run under its lease. */
export const brokerTickApp = new OpenAPIHono<AppEnv>({ defaultHook: validationHook }).openapi(tickRoute, async (c) =>
  c.json(await brokerTick(c.get("ctx"), c.req.valid("json")), 200),
);
