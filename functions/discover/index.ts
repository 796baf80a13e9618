import { OpenAPIHono } from "@hono/zod-openapi";
import type { AppEnv } from "../lib/env.ts";
import { validationHook } from "../lib/validation.ts";
import { discover, discoverRoute } from "./discover.ts";

/** Discover / search across tasks, sessions, bindings and events. */
export const discoverApp = new OpenAPIHono<AppEnv>({ defaultHook: validationHook }).openapi(discoverRoute, async (c) =>
  c.json(await discover(c.get("ctx"), c.req.valid("query")), 200),
);
